#!/usr/bin/env bash
# Benchmarks kubegate's local cluster and prints the figures of
# docs/benchmarks.md "## Local cluster":
#   - cold build time (from the build logs: a cold build is not repeatable
#     without throwing the caches away),
#   - warm build: `ci/setup.sh k8s` with everything cached, and a rebuild of
#     the hyperkube binary with a warm Go build cache (skip: --no-rebuild),
#   - `up` time from nothing, memory (RSS) of every process at idle,
#     time from `kubectl apply` of a one-container Deployment to Ready,
#   - `down` time.
# Stops a running local cluster first and starts it again at the end if it was
# running. Root; after `ci/setup.sh k8s`.
#
#   ci/bench/cluster.sh [--no-rebuild]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
source "$repo/ci/k8s/lib.sh"
rebuild=true
[[ "${1:-}" == "--no-rebuild" ]] && rebuild=false
logs_dir="$cache/logs"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
row() { printf '%-58s %s\n' "$1" "$2"; }

echo "kubegate local cluster benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "Kubernetes v$K8S_VERSION, etcd $ETCD_VERSION, CoreDNS $COREDNS_VERSION, MetalLB $METALLB_VERSION, metrics-server $METRICS_SERVER_VERSION"
echo

# ---- build ------------------------------------------------------------------
cold_k8s="$(grep -o 'built hyperkube in [0-9]*s' "$logs_dir/k8s-build.log" 2>/dev/null | head -1 | grep -o '[0-9]*' || true)"
cold_addons="$(grep -o 'built [a-z-]* v*[0-9.]* in [0-9]*s' "$logs_dir/k8s-addons-build.log" 2>/dev/null |
  awk '!seen[$2]++ { sub("s$", "", $NF); sum += $NF } END { if (NR) print sum }' || true)"
row "cold build: Kubernetes (hyperkube), from k8s-build.log" "${cold_k8s:-?}s"
row "cold build: etcd+CoreDNS+MetalLB+metrics-server+pause+testbox" "${cold_addons:-?}s"

t=$(now); bash "$repo/ci/setup/k8s.sh" >/dev/null; row "warm: ci/setup.sh k8s with everything cached" "$(since "$t")s"
if $rebuild; then
  export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-modcacherw CGO_ENABLED=0
  out="$(mktemp -d)"
  t=$(now)
  (cd "$repo/ci/k8s/hyperkube" && go build -trimpath -tags selinux,notest -ldflags "-s -w" -o "$out/hyperkube" .)
  row "warm: hyperkube rebuilt with a warm Go build cache" "$(since "$t")s"
  rm -rf "$out"
fi

# ---- up / idle memory / deployment / down -------------------------------------
was_running=false
bash "$repo/ci/k8s/status.sh" >/dev/null 2>&1 && was_running=true
bash "$repo/ci/k8s/down.sh" --quiet
t=$(now); bash "$repo/ci/k8s/up.sh" >"$cache/logs/bench-up.log" 2>&1 || { tail -20 "$cache/logs/bench-up.log"; exit 3; }
row "up (nothing running -> node Ready, DNS, LoadBalancer, metrics)" "$(since "$t")s"

sleep 30 # let start-up work settle
rss_of() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
host_kb=0
for f in "$dir"/pids/*.pid; do
  name="$(basename "$f" .pid)"
  pid="$(pid_of "$name" || true)"
  [[ -n "$pid" ]] || continue
  kb=$(rss_of "$pid"); host_kb=$((host_kb + kb))
  row "  idle RSS $name" "$((kb / 1024)) MiB"
done
shim_kb=0
for p in /proc/[0-9]*; do
  [[ "$(readlink "$p/exe" 2>/dev/null)" == *containerd-shim* ]] || continue
  tr '\0' ' ' <"$p/cmdline" | grep -qF -- "-address $containerd_sock " || continue
  shim_kb=$((shim_kb + $(rss_of "${p#/proc/}")))
done
pod_kb=0
for procs in $(find /sys/fs/cgroup/memory"$cgroup_root" /sys/fs/cgroup"$cgroup_root" -name cgroup.procs 2>/dev/null); do
  for pid in $(cat "$procs"); do pod_kb=$((pod_kb + $(rss_of "$pid"))); done
done
row "  idle RSS containerd shims" "$((shim_kb / 1024)) MiB"
row "  idle RSS pods (CoreDNS, MetalLB controller+speaker, pause)" "$((pod_kb / 1024)) MiB"
row "idle RSS, all of the above" "$(((host_kb + shim_kb + pod_kb) / 1024)) MiB"

ns=kubegate-bench
kc create namespace "$ns" >/dev/null
t=$(now)
kc -n "$ns" create deployment web --image="$TESTBOX_IMAGE" --port=8080 >/dev/null
kc -n "$ns" rollout status deployment/web --timeout=120s >/dev/null
row "kubectl create deployment (1 container) -> Ready" "$(since "$t")s"
kc delete namespace "$ns" --wait=false >/dev/null

t=$(now); bash "$repo/ci/k8s/down.sh" --quiet; row "down (everything stopped and removed)" "$(since "$t")s"
if $was_running; then
  bash "$repo/ci/k8s/up.sh" >/dev/null 2>&1 && echo "(the cluster that was running before is up again)"
fi
