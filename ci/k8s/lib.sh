# Shared settings and helpers of ci/k8s/{up,down,status}.sh (sourced, not run).
#
# Everything the local cluster makes on disk lives under $dir
# ($KUBEGATE_CLUSTER_DIR, default <repo>/target/kubegate/cluster):
#   pki/ kubeconfig/ config/   certificates, kubeconfigs, component configs
#   logs/<component>.log       one log per component (and addons.log)
#   pids/<component>.pid       the pid of every process up.sh started
#   etcd/ containerd/ kubelet/ cni/   data dirs (down.sh removes them)
#   cluster.env                KEY=VALUE facts for kubegate (written when ready)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="${KUBEGATE_REPO:-$(cd "$here/../.." && pwd)}"
source "$here/versions.sh"
cache="${KUBEGATE_CACHE:-$HOME/.cache/kubegate}"
dir="${KUBEGATE_CLUSTER_DIR:-$repo/target/kubegate/cluster}"

# Binaries (built by ci/setup.sh k8s into the cache).
k8s_bin="$cache/k8s/v$K8S_VERSION/bin"
hyperkube="$k8s_bin/hyperkube"
etcd_bin="$cache/etcd/$ETCD_VERSION/bin/etcd"
testbox_bin="$cache/testbox/$TESTBOX_VERSION/bin/testbox"
images_dir="$cache/images"
image_tars=(
  "pause-$PAUSE_VERSION.tar"
  "coredns-$COREDNS_VERSION.tar"
  "metallb-controller-$METALLB_VERSION.tar"
  "metallb-speaker-$METALLB_VERSION.tar"
  "metrics-server-$METRICS_SERVER_VERSION.tar"
  "testbox-$TESTBOX_VERSION.tar"
)

# Network layout. One node; the pod range is the node's podCIDR.
node_name="kubegate-node"
pod_cidr="10.244.0.0/24"
pod_gateway="10.244.0.1"
service_cidr="10.0.0.0/24"
api_service_ip="10.0.0.1"
dns_service_ip="10.0.0.10"
cluster_domain="cluster.local"
cni_bridge="kubegate0"
lb_iface="kubegate-lb"              # dummy (or empty bridge) interface holding the LoadBalancer range
lb_iface_cidr="172.29.255.1/24"
lb_pool="172.29.255.200-172.29.255.250"
api_port="${KUBEGATE_API_PORT:-6443}"
etcd_client_port=2379
etcd_peer_port=2380
# Every TCP port a component listens on, so a clash is named before anything starts.
cluster_ports=("$etcd_client_port" "$etcd_peer_port" "$api_port" 10250 10248 10249 10256 10257 10259 7472 7946)

containerd_sock="$dir/containerd/containerd.sock"
kubeconfig="$dir/kubeconfig/admin.kubeconfig"
cgroup_root="/kubegate"          # kubelet's --cgroup-root: all pods live under it
# Order matters: down.sh stops them in reverse.
components=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

# kubectl: $KUBECTL, else the one on PATH, else ci/setup.sh tools' copy.
if [[ -z "${KUBECTL:-}" ]]; then
  KUBECTL="$(command -v kubectl || echo "$cache/tools/bin/kubectl")"
fi
kc() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }

# What the cluster was started with: the scripts that decide its processes,
# flags and add-ons. up.sh records it in cluster.env and reuses a running
# cluster only when it matches, so a changed script restarts the cluster.
cluster_layout() { cat "$here/up.sh" "$here/lib.sh" "$here/versions.sh" | sha256sum | cut -c1-16; }

log() { echo "kubegate-local: $*"; }
die() { echo "kubegate-local: error: $1" >&2; exit "${2:-4}"; }

# step NAME: start timing a step; step_ok closes it with the elapsed time.
step_started=0
step_name=""
step() {
  step_name="$1"
  step_started=$(date +%s%N)
  echo "==> $step_name"
}
step_ok() {
  local ms=$(( ($(date +%s%N) - step_started) / 1000000 ))
  printf '    ok: %s (%d.%01ds)%s\n' "$step_name" $((ms / 1000)) $(((ms % 1000) / 100)) "${1:+ $1}"
}

# pid_of NAME: the recorded pid of a component if that process is still alive.
pid_of() {
  local f="$dir/pids/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # A recycled pid is not ours: its command line must hold the recorded marker.
  local marker
  marker="$(cat "$dir/pids/$1.cmd" 2>/dev/null)" && [[ -n "$marker" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker" || return 1
  echo "$pid"
}

# log_tail NAME [N]: the last lines of a component's log, for error messages.
log_tail() {
  local f="$dir/logs/$1.log"
  [[ -f "$f" ]] && tail -n "${2:-15}" "$f" | sed 's/^/      | /'
  return 0
}
