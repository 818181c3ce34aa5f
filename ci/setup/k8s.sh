#!/usr/bin/env bash
# Set-up part "k8s": everything kubegate's local cluster (ci/k8s/up.sh) needs.
#   - Debian packages: containerd (comes with docker.io), CNI plugins,
#     iptables, conntrack, socat, openssl, curl, gcc (the pause image).
#   - Builds, all from the Go module proxy and pinned in ci/k8s/versions.sh,
#     cached under ~/.cache/kubegate/<thing>/<version>/ and skipped when there:
#     Kubernetes v1.34 (one hyperkube binary, ci/k8s/build.sh), etcd, CoreDNS,
#     MetalLB, metrics-server, pause, testbox (ci/k8s/build-addons.sh), and their images
#     FROM scratch (needs the Docker engine of `ci/setup.sh docker`).
# Cold: ~17-35 min on 2 cores (Kubernetes is most of it; a line a minute shows
# progress); warm: seconds.
# Build logs (with timings, read by ci/bench/cluster.sh):
#   ~/.cache/kubegate/logs/k8s-build.log, k8s-addons-build.log
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
k8s="$here/../k8s"
source "$k8s/versions.sh"
source "$here/../progress.sh"
cache="${KUBEGATE_CACHE:-$HOME/.cache/kubegate}"
logs="$cache/logs"
mkdir -p "$logs"
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-modcacherw

say() { echo "    k8s: $*"; }
die() { echo "ci/setup/k8s.sh: $*" >&2; exit 2; }

# ---- packages ---------------------------------------------------------------
declare -A provides=(
  [containerd]=containerd [ctr]=containerd [runc]=runc
  [ip]=iproute2 [ss]=iproute2 [iptables]=iptables [conntrack]=conntrack [socat]=socat [openssl]=openssl [curl]=curl [gcc]=gcc
)
missing=()
for tool in "${!provides[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${provides[$tool]}")
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/portmap ]] || missing+=(containernetworking-plugins)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a || -f /usr/lib/libc.a ]] || missing+=(libc6-dev)
if [[ ${#missing[@]} -gt 0 ]]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  [[ $EUID -eq 0 ]] || die "missing packages (${missing[*]}): run as root to apt-get install them"
  say "installing ${missing[*]} (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- Go ---------------------------------------------------------------------
command -v go >/dev/null || die "Go is not installed (need >= 1.24 for Kubernetes v$K8S_VERSION): install it to /usr/local/go"
go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
[[ -n "$go_minor" && "$go_minor" -ge 24 ]] || die "Go $(go env GOVERSION) is too old: Kubernetes v$K8S_VERSION needs Go >= 1.24"

# ---- builds -----------------------------------------------------------------
# Each script skips what is already built; the full output goes to the logs.
# run_logged LOG FILTER CMD...: run CMD, append its output to LOG, show lines matching FILTER.
run_logged() {
  local log="$1" filter="$2" rc; shift 2
  set +e
  "$@" 2>&1 | tee -a "$log" | { grep -E "$filter" || true; }
  rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}
# Cold estimates: measured on 2-core machines (docs/benchmarks.md, "Local cluster").
with_progress "Kubernetes v$K8S_VERSION build" "10-20 min" \
  run_logged "$logs/k8s-build.log" '^kubegate:|rror' bash "$k8s/build.sh" ||
  die "building Kubernetes failed: see $logs/k8s-build.log"
with_progress "add-ons build (etcd, CoreDNS, MetalLB, metrics-server, images)" "10-17 min" \
  run_logged "$logs/k8s-addons-build.log" 'k8s-addons|rror' bash "$k8s/build-addons.sh" all ||
  die "building the cluster add-ons failed: see $logs/k8s-addons-build.log"
# up.sh applies the upstream manifests from the module cache: make sure they are there.
go mod download "k8s.io/kubernetes@v$K8S_VERSION" "go.universe.tf/metallb@$METALLB_VERSION" \
  "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" ||
  die "downloading the Kubernetes/MetalLB/metrics-server modules (for their manifests) failed"
say "local cluster components ready (start it: kubegate cluster up --provider local, or ci/k8s/up.sh)"
