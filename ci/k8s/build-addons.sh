#!/usr/bin/env bash
# Builds everything the local cluster runs besides the Kubernetes components
# (ci/k8s/build.sh): etcd, CoreDNS, MetalLB controller + speaker, the pause
# image and kubegate's test workload (testbox). Go code comes from the Go
# module proxy only, pinned here; nothing else is downloaded.
#
# Output, each keyed by version and skipped when already there:
#   ~/.cache/kubegate/etcd/<v>/bin/etcd            (host process)
#   ~/.cache/kubegate/coredns/<v>/bin/coredns      -> image registry.k8s.io/coredns/coredns:<v>
#   ~/.cache/kubegate/metallb/<v>/bin/{controller,speaker}
#                                                  -> quay.io/metallb/{controller,speaker}:<v>
#   ~/.cache/kubegate/metrics-server/<v>/bin/metrics-server
#                                                  -> registry.k8s.io/metrics-server/metrics-server:<v>
#   ~/.cache/kubegate/pause/<v>/bin/pause          -> registry.k8s.io/pause:<v>
#   ~/.cache/kubegate/testbox/<v>/bin/testbox      -> kubegate.local/testbox:<v>
#   ~/.cache/kubegate/images/<name>-<v>.tar        `docker save` of each image (up.sh imports them)
#
# Usage: ci/k8s/build-addons.sh [binaries|images|all]   (default all)
# Images need a running Docker engine (ci/setup/docker.sh); binaries do not.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/versions.sh"
cache="${KUBEGATE_CACHE:-$HOME/.cache/kubegate}"
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-modcacherw CGO_ENABLED=0
what="${1:-all}"

say() { echo "    k8s-addons: $*"; }
die() { echo "ci/k8s/build-addons.sh: $*" >&2; exit 4; }

# build NAME VERSION OUTFILE CMD...: run CMD (which writes OUTFILE.tmp) unless OUTFILE exists.
build() {
  local name="$1" version="$2" out="$3"; shift 3
  if [[ -x "$out" ]]; then
    say "$name $version already built ($out)"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  say "building $name $version ..."
  local start=$SECONDS
  "$@" || die "building $name $version failed (command: $*)"
  mv "$out.tmp" "$out"
  say "built $name $version in $(( SECONDS - start ))s"
}

go_install() { # go_install OUT PKG@VERSION: `go install` into a temp GOBIN, then move.
  local out="$1" pkg="$2" gobin
  gobin="$(mktemp -d)"
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w ${3:-}" "$pkg"
  mv "$gobin/$(basename "${pkg%@*}")" "$out.tmp"
  rm -rf "$gobin"
}

build_binaries() {
  # etcd: a wrapper module of ours (etcd's server module has no main package).
  build etcd "$ETCD_VERSION" "$cache/etcd/$ETCD_VERSION/bin/etcd" \
    bash -c "cd '$here/etcd' && go build -trimpath -ldflags '-s -w' -o '$cache/etcd/$ETCD_VERSION/bin/etcd.tmp' ."
  # CoreDNS: its go.mod has no replace directives, so `go install module@version` is pinned by its go.sum.
  build coredns "$COREDNS_VERSION" "$cache/coredns/$COREDNS_VERSION/bin/coredns" \
    go_install "$cache/coredns/$COREDNS_VERSION/bin/coredns" "github.com/coredns/coredns@$COREDNS_VERSION" \
    "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
  build metallb-controller "$METALLB_VERSION" "$cache/metallb/$METALLB_VERSION/bin/controller" \
    go_install "$cache/metallb/$METALLB_VERSION/bin/controller" "go.universe.tf/metallb/controller@$METALLB_VERSION"
  build metallb-speaker "$METALLB_VERSION" "$cache/metallb/$METALLB_VERSION/bin/speaker" \
    go_install "$cache/metallb/$METALLB_VERSION/bin/speaker" "go.universe.tf/metallb/speaker@$METALLB_VERSION"
  # metrics-server: no replace directives in its go.mod either (cold: the k8s.io libraries it pins, a few minutes).
  build metrics-server "$METRICS_SERVER_VERSION" "$cache/metrics-server/$METRICS_SERVER_VERSION/bin/metrics-server" \
    go_install "$cache/metrics-server/$METRICS_SERVER_VERSION/bin/metrics-server" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION" \
    "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION"  # as its Makefile does
  build pause "$PAUSE_VERSION" "$cache/pause/$PAUSE_VERSION/bin/pause" \
    gcc -static -Os -Wall -o "$cache/pause/$PAUSE_VERSION/bin/pause.tmp" "$here/images/pause/pause.c"
  build testbox "$TESTBOX_VERSION" "$cache/testbox/$TESTBOX_VERSION/bin/testbox" \
    bash -c "cd '$here/images/testbox' && go build -trimpath -ldflags '-s -w' -o '$cache/testbox/$TESTBOX_VERSION/bin/testbox.tmp' ."
}

# image TAG TARFILE BINARY DOCKERFILE-BODY: docker build FROM scratch in a temp context, docker save.
image() {
  local tag="$1" tar="$2" binary="$3" dockerfile="$4" ctx
  if [[ -s "$tar" ]]; then
    say "image $tag already saved ($tar)"
    return 0
  fi
  docker info >/dev/null 2>&1 || die "no Docker engine: start it with ci/setup.sh docker (images are built FROM scratch with docker build)"
  ctx="$(mktemp -d)"
  cp "$binary" "$ctx/"
  printf '%s\n' "$dockerfile" >"$ctx/Dockerfile"
  # (the legacy builder's deprecation notice on stderr is noise: show stderr only on failure)
  docker build -q -t "$tag" "$ctx" >/dev/null 2>"$ctx.err" || { cat "$ctx.err" >&2; die "docker build $tag failed"; }
  rm -rf "$ctx" "$ctx.err"
  mkdir -p "$(dirname "$tar")"
  docker save "$tag" -o "$tar.tmp" && mv "$tar.tmp" "$tar"
  say "image $tag -> $tar"
}

build_images() {
  local img="$cache/images"
  image "registry.k8s.io/pause:$PAUSE_VERSION" "$img/pause-$PAUSE_VERSION.tar" "$cache/pause/$PAUSE_VERSION/bin/pause" \
    "$(printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]')"
  image "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$img/coredns-$COREDNS_VERSION.tar" "$cache/coredns/$COREDNS_VERSION/bin/coredns" \
    "$(printf 'FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\nENTRYPOINT ["/coredns"]')"
  image "quay.io/metallb/controller:$METALLB_VERSION" "$img/metallb-controller-$METALLB_VERSION.tar" "$cache/metallb/$METALLB_VERSION/bin/controller" \
    "$(printf 'FROM scratch\nCOPY controller /controller\nUSER 65534:65534\nENTRYPOINT ["/controller"]')"
  image "quay.io/metallb/speaker:$METALLB_VERSION" "$img/metallb-speaker-$METALLB_VERSION.tar" "$cache/metallb/$METALLB_VERSION/bin/speaker" \
    "$(printf 'FROM scratch\nCOPY speaker /speaker\nENTRYPOINT ["/speaker"]')"
  # The tag metrics-server's upstream release overlay (manifests/overlays/release) names; runs as uid 1000 there.
  image "registry.k8s.io/metrics-server/metrics-server:$METRICS_SERVER_VERSION" "$img/metrics-server-$METRICS_SERVER_VERSION.tar" \
    "$cache/metrics-server/$METRICS_SERVER_VERSION/bin/metrics-server" \
    "$(printf 'FROM scratch\nCOPY metrics-server /metrics-server\nUSER 65534:65534\nENTRYPOINT ["/metrics-server"]')"
  image "$TESTBOX_IMAGE" "$img/testbox-$TESTBOX_VERSION.tar" "$cache/testbox/$TESTBOX_VERSION/bin/testbox" \
    "$(printf 'FROM scratch\nCOPY testbox /testbox\nUSER 65532:65532\nENTRYPOINT ["/testbox"]\nCMD ["serve"]')"
}

case "$what" in
  binaries) build_binaries ;;
  images) build_images ;;
  all) build_binaries; build_images ;;
  *) die "unknown target '$what' (binaries|images|all)" ;;
esac
