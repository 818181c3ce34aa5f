#!/usr/bin/env bash
# Starts kubegate's local cluster: upstream Kubernetes v$K8S_VERSION as host
# processes (like Kubernetes' hack/local-up-cluster.sh), with its own
# containerd, the bridge CNI, kube-proxy in iptables mode, CoreDNS and MetalLB
# from their upstream manifests, and metrics-server behind the API server's
# aggregation layer. Returns once the node is Ready, CoreDNS answers, a
# LoadBalancer Service gets an address and the metrics API serves node metrics.
#
#   ci/k8s/up.sh        (root; binaries from `ci/setup.sh k8s`)
#
# Reuses a cluster that is already up and healthy and was started by these
# scripts as they are now (a changed up.sh restarts it). After a crash (stale pids,
# leftover mounts/interfaces) it cleans up with down.sh first; a port held by
# a process that is not ours is named and up.sh stops (exit 3).
# Progress: "==> step" / "    ok: step (Ns)" lines on stdout. Logs: $dir/logs/.
# Exit codes: 0 ready, 2 not built / missing tool, 3 cluster did not come up, 4 other.
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
t0=$(date +%s)

[[ $EUID -eq 0 ]] || die "must run as root (it starts containerd, kubelet and kube-proxy on the host)" 2
for t in containerd containerd-shim-runc-v2 runc ctr iptables iptables-save ip ss setsid conntrack openssl curl "$KUBECTL"; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH: install it with ci/setup.sh k8s" 2
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback && -x /usr/lib/cni/portmap ]] ||
  die "CNI plugins missing in /usr/lib/cni: apt-get install containernetworking-plugins (ci/setup.sh k8s)" 2
for b in "$hyperkube" "$etcd_bin" "$testbox_bin"; do
  [[ -x "$b" ]] || die "$b is not built: build the local cluster: ci/setup.sh k8s" 2
done
for t in "${image_tars[@]}"; do
  [[ -s "$images_dir/$t" ]] || die "image $images_dir/$t is not built: build the local cluster: ci/setup.sh k8s" 2
done

# ---- reuse or recover -------------------------------------------------------
api_ready() {
  curl -fsS --max-time 3 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1
}
all_alive() {
  local c
  for c in "${components[@]}"; do pid_of "$c" >/dev/null || return 1; done
}
layout="$(cluster_layout)"
if [[ -f "$dir/cluster.env" ]] && all_alive && api_ready; then
  if grep -qx "CLUSTER_LAYOUT=$layout" "$dir/cluster.env"; then
    log "already running (cluster dir $dir); reusing it"
    cat "$dir/cluster.env"
    exit 0
  fi
  log "running, but started by another version of ci/k8s/up.sh (layout $(sed -n 's/^CLUSTER_LAYOUT=//p' "$dir/cluster.env" | grep . || echo unknown), now $layout): restarting it"
fi
if [[ -d "$dir/pids" || -d "$dir/containerd" ]] || ip link show "$cni_bridge" >/dev/null 2>&1 || ip link show "$lb_iface" >/dev/null 2>&1; then
  step "clean up a previous run (stale pids, mounts, interfaces)"
  bash "$here/down.sh" --quiet || die "cleaning up the previous run failed; see the output above" 3
  step_ok
fi

step "check ports"
busy=""
for p in "${cluster_ports[@]}"; do
  line="$(ss -ltnpH "sport = :$p" 2>/dev/null | head -1)"
  [[ -n "$line" ]] && busy+="  port $p is in use: $line"$'\n'
done
[[ -z "$busy" ]] || die "ports the cluster needs are held by processes that are not this cluster's:
$busy  stop those processes (or a cluster started from another checkout: KUBEGATE_CLUSTER_DIR=<its dir> ci/k8s/down.sh)" 3
step_ok

mkdir -p "$dir"/{pki,kubeconfig,config,logs,pids,etcd,containerd,kubelet,cni/net.d,cni/ipam,manifests}
rm -f "$dir/cluster.env"

# ---- host -------------------------------------------------------------------
step "prepare the host (mount propagation, forwarding, bridge netfilter, cgroups)"
node_ip="${KUBEGATE_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1)}"
[[ -n "$node_ip" ]] || die "cannot find the node IP (no IPv4 default route); set KUBEGATE_NODE_IP" 2
mount --make-rshared /
# (written to /proc directly: minimal images have no sysctl binary)
echo 1 >/proc/sys/net/ipv4/ip_forward
if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
  # Without br_netfilter, pods cannot reach Services on their own bridge.
  modprobe br_netfilter 2>/dev/null || die "br_netfilter is not available (no /proc/sys/net/bridge): load the module" 2
fi
echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
# A connection attempt that reached a pod as it died leaves an unanswered
# SYN_SENT conntrack entry holding its DNAT to that pod for 120 s; a new
# connection from the same source port to the same Service or LoadBalancer
# address matches it and is sent to the dead pod too (no answer: a lost
# request). kube-proxy clears such entries for UDP only
# (kubernetes/kubernetes#101607). This host is also where the live checks'
# clients run, and the next namespace gets the same LoadBalancer address, so
# keep unanswered attempts 5 s: a SYN resent after that is NATed afresh, to a
# live endpoint. Answered connections are not affected. down.sh restores it.
syn_sent=/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_syn_sent
if [[ -w "$syn_sent" ]]; then
  [[ -f "$dir/syn_sent.orig" ]] || cat "$syn_sent" >"$dir/syn_sent.orig"
  echo 5 >"$syn_sent"
fi
# Docker sets FORWARD's policy to DROP; let pod traffic through (down.sh removes these).
for rule in "-i $cni_bridge" "-o $cni_bridge"; do
  # shellcheck disable=SC2086
  iptables -C FORWARD $rule -m comment --comment kubegate -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD 1 $rule -m comment --comment kubegate -j ACCEPT
done
# A Service address kube-proxy has not programmed yet (a Service just created
# while kube-proxy is busy) would follow the default route off the host, where
# this machine's egress answers every address and port with an empty HTTP 404,
# and a keep-alive client then stays on that connection. Refuse it instead, as
# kube-proxy refuses a Service without endpoints: in the filter table only
# traffic kube-proxy did not DNAT still has a Service address.
for chain in OUTPUT FORWARD; do
  iptables -C "$chain" -d "$service_cidr" -m comment --comment kubegate -j REJECT 2>/dev/null ||
    iptables -I "$chain" 1 -d "$service_cidr" -m comment --comment kubegate -j REJECT
done
# The LoadBalancer range lives on an interface of its own, so the host has a
# route to it (a portless bridge: these kernels have no dummy driver).
ip link show "$lb_iface" >/dev/null 2>&1 || ip link add "$lb_iface" type dummy 2>/dev/null ||
  ip link add "$lb_iface" type bridge || die "cannot create interface $lb_iface (dummy or bridge)" 3
ip addr replace "$lb_iface_cidr" dev "$lb_iface"
ip link set "$lb_iface" up
# kubelet's --cgroup-root must exist in every v1 hierarchy (cgroup v2: one tree).
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  mkdir -p "/sys/fs/cgroup$cgroup_root"
else
  for h in /sys/fs/cgroup/*/; do
    [[ -L "${h%/}" ]] && continue
    mkdir -p "$h${cgroup_root#/}" 2>/dev/null || true
  done
fi
# Pods with dnsPolicy Default (CoreDNS) get the host's resolvers, minus loopback
# ones (CoreDNS's loop plugin would see itself).
upstream_ns="$(awk '$1=="nameserver" && $2 !~ /^127\./ && $2 != "::1" {print $2}' /etc/resolv.conf 2>/dev/null | head -3)"
if [[ -z "$upstream_ns" && -f /run/systemd/resolve/resolv.conf ]]; then
  upstream_ns="$(awk '$1=="nameserver" && $2 !~ /^127\./ {print $2}' /run/systemd/resolve/resolv.conf | head -3)"
fi
: >"$dir/config/resolv.conf"
for ns in $upstream_ns; do echo "nameserver $ns" >>"$dir/config/resolv.conf"; done
step_ok "node IP $node_ip, upstream DNS: ${upstream_ns:-none (cluster names only)}"

# ---- certificates and kubeconfigs ------------------------------------------
step "certificates and kubeconfigs"
pki="$dir/pki"
ossl() { openssl "$@" 2>>"$dir/logs/openssl.log"; }
newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
newkey "$pki/ca.key"
ossl req -x509 -new -key "$pki/ca.key" -subj "/CN=kubegate-local-ca" -days 3650 -out "$pki/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
# The aggregation layer's own CA: the API server proves who it proxies for
# with a client certificate from it (front-proxy-client), and aggregated API
# servers (metrics-server) trust X-Remote-User headers only from that CA.
newkey "$pki/front-proxy-ca.key"
ossl req -x509 -new -key "$pki/front-proxy-ca.key" -subj "/CN=kubegate-local-front-proxy-ca" -days 3650 -out "$pki/front-proxy-ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
# cert NAME CN ORG USAGE [SANS] [CA]: a key and a certificate signed by CA (default: the cluster CA).
cert() {
  local name="$1" cn="$2" org="$3" usage="$4" sans="${5:-}" ca="${6:-ca}" subj="/CN=$2"
  [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  newkey "$pki/$name.key"
  ossl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [[ -n "$sans" ]] && echo "subjectAltName=$sans"
  } >"$pki/$name.ext"
  ossl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -CAcreateserial -days 365 \
    -extfile "$pki/$name.ext" -out "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
cert apiserver kube-apiserver "" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$cluster_domain,DNS:localhost,DNS:$node_name,IP:127.0.0.1,IP:$api_service_ip,IP:$node_ip"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
cert admin kubegate-admin system:masters clientAuth
cert controller-manager system:kube-controller-manager "" clientAuth
cert scheduler system:kube-scheduler "" clientAuth
cert kubelet "system:node:$node_name" system:nodes clientAuth
cert kubelet-serving "$node_name" "" serverAuth "DNS:$node_name,DNS:localhost,IP:127.0.0.1,IP:$node_ip"
cert kube-proxy system:kube-proxy "" clientAuth
cert front-proxy-client front-proxy-client "" clientAuth "" front-proxy-ca
newkey "$pki/sa.key"
ossl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
chmod 600 "$pki"/*.key

# kubeconfig NAME CERT: a kubeconfig for https://127.0.0.1:<api_port> with that client certificate.
kubeconfig_for() {
  local name="$1" crt="$2" b64="base64 -w0"
  cat >"$dir/kubeconfig/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubegate-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $($b64 <"$pki/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $($b64 <"$pki/$crt.crt")
    client-key-data: $($b64 <"$pki/$crt.key")
contexts:
- name: kubegate-local
  context:
    cluster: kubegate-local
    user: $name
current-context: kubegate-local
EOF
  chmod 600 "$dir/kubeconfig/$name.kubeconfig"
}
kubeconfig_for admin admin
kubeconfig_for controller-manager controller-manager
kubeconfig_for scheduler scheduler
kubeconfig_for kubelet kubelet
kubeconfig_for kube-proxy kube-proxy
step_ok

# ---- processes --------------------------------------------------------------
# start NAME MARKER CMD...: run CMD detached (own session) with its log and pid recorded.
# MARKER is a string of its command line, so a recycled pid is never mistaken for it.
# The daemon keeps none of up.sh's other descriptors: under
# `flock /work/cluster.lock ci/k8s/up.sh` (or a kubegate run under it) the lock's
# descriptor would otherwise be inherited and the lock held for the cluster's life.
start() {
  local name="$1" marker="$2"; shift 2
  : >"$dir/logs/$name.log"
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd="${fd##*/}"
      [[ "$fd" -gt 2 ]] && eval "exec $fd>&-" 2>/dev/null
    done
    exec setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$dir/pids/$name.pid"
  echo "$marker" >"$dir/pids/$name.cmd"
}
# wait_until SECONDS WHAT LOG CMD...: poll CMD until it succeeds; on timeout show LOG and fail.
wait_until() {
  local limit="$1" what="$2" logname="$3" deadline; shift 3
  deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$logname" && -f "$dir/pids/$logname.pid" ]] && ! pid_of "$logname" >/dev/null; then
      echo "kubegate-local: $logname exited; last lines of $dir/logs/$logname.log:" >&2
      log_tail "$logname" 25 >&2
      die "$what: $logname is not running" 3
    fi
    if (( $(date +%s) >= deadline )); then
      [[ -n "$logname" ]] && { echo "kubegate-local: last lines of $dir/logs/$logname.log:" >&2; log_tail "$logname" 25 >&2; }
      die "$what: not within ${limit}s" 3
    fi
    sleep 0.5
  done
}

step "etcd $ETCD_VERSION"
start etcd "$dir/etcd" "$etcd_bin" --name kubegate --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_client_port" --advertise-client-urls "http://127.0.0.1:$etcd_client_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "kubegate=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls "" \
  --unsafe-no-fsync --log-level warn
wait_until 30 "etcd health" etcd curl -fsS "http://127.0.0.1:$etcd_client_port/health"
step_ok

step "kube-apiserver v$K8S_VERSION"
# --requestheader-* / --proxy-client-*: the aggregation layer (metrics.k8s.io is
# served by metrics-server through it). --enable-aggregator-routing: the API
# server (a host process) sends aggregated requests straight to the endpoint
# (pod) IP over the CNI bridge, not through the Service IP, so the metrics API
# does not depend on kube-proxy's rules for host-originated traffic.
start kube-apiserver "--cert-dir=$dir/pki" "$hyperkube" kube-apiserver \
  --etcd-servers="http://127.0.0.1:$etcd_client_port" \
  --advertise-address="$node_ip" --bind-address=0.0.0.0 --secure-port="$api_port" --cert-dir="$dir/pki" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-account-issuer="https://kubernetes.default.svc.$cluster_domain" \
  --service-cluster-ip-range="$service_cidr" --allow-privileged=true \
  --authorization-mode=Node,RBAC \
  --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
  --enable-aggregator-routing=true \
  --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,NodeRestriction,PodSecurity,Priority,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota \
  --profiling=false --v=1
wait_until 60 "kube-apiserver /readyz" kube-apiserver api_ready
step_ok

step "kube-controller-manager and kube-scheduler"
start kube-controller-manager "$dir/kubeconfig/controller-manager.kubeconfig" "$hyperkube" kube-controller-manager \
  --kubeconfig="$dir/kubeconfig/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$dir/kubeconfig/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$dir/kubeconfig/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --allocate-node-cidrs=true --cluster-cidr="$pod_cidr" --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$service_cidr" --controllers='*,bootstrapsigner,tokencleaner' \
  --profiling=false --v=1
start kube-scheduler "$dir/kubeconfig/scheduler.kubeconfig" "$hyperkube" kube-scheduler \
  --kubeconfig="$dir/kubeconfig/scheduler.kubeconfig" \
  --authentication-kubeconfig="$dir/kubeconfig/scheduler.kubeconfig" \
  --authorization-kubeconfig="$dir/kubeconfig/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1
wait_until 30 "kube-controller-manager /healthz" kube-controller-manager curl -fsSk https://127.0.0.1:10257/healthz
wait_until 30 "kube-scheduler /healthz" kube-scheduler curl -fsSk https://127.0.0.1:10259/healthz
step_ok

step "containerd (own instance) and images"
cat >"$dir/cni/net.d/10-kubegate.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kubegate",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$cni_bridge",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$pod_cidr", "gateway": "$pod_gateway" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$dir/cni/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
cat >"$dir/config/containerd.toml" <<EOF
# kubegate's own containerd: beside Docker's, never touching it.
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$containerd_sock"

[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:$PAUSE_VERSION"
  # Negative oom_score_adj fails on these machines: clamp to the host's (0).
  restrict_oom_score_adj = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
EOF
start containerd "$dir/config/containerd.toml" containerd --config "$dir/config/containerd.toml"
ctr_() { ctr -a "$containerd_sock" -n k8s.io "$@"; }
wait_until 30 "containerd socket" containerd ctr_ version
for t in "${image_tars[@]}"; do
  ctr_ images import "$images_dir/$t" >>"$dir/logs/images.log" 2>&1 ||
    die "importing $images_dir/$t into containerd failed; see $dir/logs/images.log" 3
done
step_ok "$(ctr_ images ls -q | grep -vc '^sha256:') images"

step "kubelet"
cat >"$dir/config/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: "$pki/ca.crt" }
authorization:
  mode: Webhook
tlsCertFile: "$pki/kubelet-serving.crt"
tlsPrivateKeyFile: "$pki/kubelet-serving.key"
containerRuntimeEndpoint: "unix://$containerd_sock"
cgroupDriver: cgroupfs
cgroupRoot: "$cgroup_root"
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
# Negative oom_score_adj is refused on these machines.
oomScoreAdj: 0
clusterDNS: ["$dns_service_ip"]
clusterDomain: "$cluster_domain"
resolvConf: "$dir/config/resolv.conf"
# Locally built images cannot be pulled again: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
registerNode: true
maxPods: 110
EOF
start kubelet "$dir/config/kubelet.yaml" "$hyperkube" kubelet \
  --config="$dir/config/kubelet.yaml" --kubeconfig="$dir/kubeconfig/kubelet.kubeconfig" \
  --root-dir="$dir/kubelet" --hostname-override="$node_name" --node-ip="$node_ip" --v=1
node_ready() { [[ "$(kc get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; }
wait_until 90 "node $node_name Ready" kubelet node_ready
step_ok

step "kube-proxy (iptables mode)"
cat >"$dir/config/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: "$dir/kubeconfig/kube-proxy.kubeconfig"
mode: iptables
hostnameOverride: "$node_name"
clusterCIDR: "$pod_cidr"
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Negative oom_score_adj is refused on these machines.
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
start kube-proxy "$dir/config/kube-proxy.yaml" "$hyperkube" kube-proxy --config="$dir/config/kube-proxy.yaml" --v=1
wait_until 30 "kube-proxy /healthz" kube-proxy curl -fsS http://127.0.0.1:10256/healthz
step_ok

# ---- addons -----------------------------------------------------------------
gomod="$cache/go/mod"
coredns_base="$gomod/k8s.io/kubernetes@v$K8S_VERSION/cluster/addons/dns/coredns/coredns.yaml.base"
metallb_native="$gomod/go.universe.tf/metallb@$METALLB_VERSION/config/manifests/metallb-native.yaml"
metrics_server_release="$gomod/sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION/manifests/overlays/release"
[[ -f "$coredns_base" ]] || die "$coredns_base missing (the Go module cache of the kubernetes build): ci/setup.sh k8s" 2
[[ -f "$metallb_native" ]] || die "$metallb_native missing (the Go module cache of the MetalLB build): ci/setup.sh k8s" 2
[[ -f "$metrics_server_release/kustomization.yaml" ]] ||
  die "$metrics_server_release missing (the Go module cache of the metrics-server build): ci/setup.sh k8s" 2

step "CoreDNS $COREDNS_VERSION (upstream addon manifest)"
sed -e "s/__DNS__DOMAIN__/$cluster_domain/g" -e "s/__DNS__SERVER__/$dns_service_ip/g" \
  -e "s/__DNS__MEMORY__LIMIT__/170Mi/g" -e "s|registry.k8s.io/coredns/coredns:v[0-9.]*|registry.k8s.io/coredns/coredns:$COREDNS_VERSION|" \
  "$coredns_base" >"$dir/manifests/coredns.yaml"
if [[ -z "$upstream_ns" ]]; then
  # No resolver outside the host: answer cluster names only.
  sed -i '/forward \. \/etc\/resolv.conf {/,/}/d' "$dir/manifests/coredns.yaml"
fi
kc apply -f "$dir/manifests/coredns.yaml" >>"$dir/logs/addons.log" 2>&1 || die "applying CoreDNS failed; see $dir/logs/addons.log" 3
dns_answers() { "$testbox_bin" lookup "kubernetes.default.svc.$cluster_domain" -server "$dns_service_ip:53" | grep -qx "$api_service_ip"; }
wait_until 90 "CoreDNS answering kubernetes.default.svc.$cluster_domain at $dns_service_ip" "" dns_answers
step_ok

step "metrics-server $METRICS_SERVER_VERSION (upstream release overlay; started, checked at the end)"
# The release overlay names the image build-addons.sh tags (FROM scratch, imported above).
# Kubelet TLS is verified: the kubelet's serving certificate is signed by the
# cluster CA, which is the CA of metrics-server's in-cluster config, and names
# the node IP it scrapes (InternalIP). So no --kubelet-insecure-tls.
"$KUBECTL" kustomize "$metrics_server_release" 2>>"$dir/logs/addons.log" >"$dir/manifests/metrics-server.yaml" ||
  die "rendering $metrics_server_release failed; see $dir/logs/addons.log" 3
grep -q "image: registry.k8s.io/metrics-server/metrics-server:$METRICS_SERVER_VERSION\$" "$dir/manifests/metrics-server.yaml" ||
  die "$dir/manifests/metrics-server.yaml does not run registry.k8s.io/metrics-server/metrics-server:$METRICS_SERVER_VERSION (the image built by ci/setup.sh k8s)" 3
kc apply -f "$dir/manifests/metrics-server.yaml" >>"$dir/logs/addons.log" 2>&1 || die "applying metrics-server failed; see $dir/logs/addons.log" 3
step_ok

step "MetalLB $METALLB_VERSION (upstream metallb-native manifest, layer 2, pool $lb_pool)"
cp "$metallb_native" "$dir/manifests/metallb-native.yaml"
kc apply -f "$dir/manifests/metallb-native.yaml" >>"$dir/logs/addons.log" 2>&1 || die "applying MetalLB failed; see $dir/logs/addons.log" 3
cat >"$dir/manifests/metallb-pool.yaml" <<EOF
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: kubegate-local
  namespace: metallb-system
spec:
  addresses: ["$lb_pool"]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: kubegate-local
  namespace: metallb-system
spec:
  ipAddressPools: [kubegate-local]
EOF
# The pool goes through MetalLB's webhook, which answers once the controller is up.
wait_until 120 "MetalLB webhook accepting the address pool" "" kc apply -f "$dir/manifests/metallb-pool.yaml"
kc -n kube-system delete service kubegate-lb-check --ignore-not-found >/dev/null 2>&1
kc -n kube-system create service loadbalancer kubegate-lb-check --tcp=80:80 >>"$dir/logs/addons.log" 2>&1
lb_ip() { kc -n kube-system get service kubegate-lb-check -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null | grep -q .; }
wait_until 60 "a LoadBalancer Service getting an address from MetalLB" "" lb_ip
got_ip="$(kc -n kube-system get service kubegate-lb-check -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
kc -n kube-system delete service kubegate-lb-check --wait=false >/dev/null 2>&1
kc -n metallb-system rollout status daemonset/speaker --timeout=60s >>"$dir/logs/addons.log" 2>&1 ||
  die "MetalLB speaker not ready; see kubectl -n metallb-system get pods" 3
step_ok "test Service got $got_ip"

step "metrics API (v1beta1.metrics.k8s.io Available, node metrics served)"
apiservice_available() {
  [[ "$(kc get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null)" == True ]]
}
node_metrics() { kc get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$node_name" 2>/dev/null | grep -q '"cpu"'; }
# Readiness needs a first scrape of the kubelet (initialDelaySeconds 20 + a --metric-resolution of 15 s).
wait_until 90 "the APIService v1beta1.metrics.k8s.io Available (kubectl -n kube-system logs deploy/metrics-server)" "" apiservice_available
wait_until 60 "node metrics from /apis/metrics.k8s.io/v1beta1/nodes/$node_name" "" node_metrics
step_ok

cat >"$dir/cluster.env" <<EOF
KUBECONFIG=$kubeconfig
API_SERVER=https://127.0.0.1:$api_port
NODE_NAME=$node_name
NODE_IP=$node_ip
POD_CIDR=$pod_cidr
SERVICE_CIDR=$service_cidr
DNS_SERVICE_IP=$dns_service_ip
LB_POOL=$lb_pool
CONTAINERD_SOCK=$containerd_sock
K8S_VERSION=v$K8S_VERSION
METRICS_API=metrics.k8s.io/v1beta1
CLUSTER_LAYOUT=$layout
EOF
log "ready in $(( $(date +%s) - t0 ))s; kubeconfig: $kubeconfig"
cat "$dir/cluster.env"
