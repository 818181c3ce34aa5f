#!/usr/bin/env bash
# Stops kubegate's local cluster and removes everything ci/k8s/up.sh made:
# pods and their shims, the processes it recorded (by pid), mounts under the
# cluster dir, the CNI bridge and veths, the LoadBalancer dummy interface,
# KUBE-*/CNI-* iptables chains and kubegate's FORWARD rules, the pods'
# cgroups and the data dirs. Safe to run twice, or after a crash.
#
#   ci/k8s/down.sh [--quiet]
#
# The logs of the run are kept, moved to $dir/logs.prev/.
# Exit codes: 0 done, 2 bad usage / not root, 3 something could not be removed (named).
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
quiet=false
for a in "$@"; do
  case "$a" in
    --quiet) quiet=true ;;
    *) die "unknown argument '$a' (--quiet)" 2 ;;
  esac
done
say() { $quiet || echo "==> $*"; }
[[ $EUID -eq 0 ]] || die "must run as root" 2
t0=$(date +%s%N)

# stop_pids NAME=PID...: SIGTERM all at once, wait up to 10 s, then SIGKILL the rest.
stop_pids() {
  local np i alive
  for np in "$@"; do kill -TERM "${np#*=}" 2>/dev/null || true; done
  for i in $(seq 1 100); do
    alive=()
    for np in "$@"; do kill -0 "${np#*=}" 2>/dev/null && alive+=("$np"); done
    [[ ${#alive[@]} -eq 0 ]] && return 0
    sleep 0.1
  done
  for np in "${alive[@]}"; do
    echo "kubegate-local: ${np%%=*} (pid ${np#*=}) ignored SIGTERM for 10s; killing it" >&2
    kill -KILL "${np#*=}" 2>/dev/null || true
  done
  for i in $(seq 1 50); do
    alive=()
    for np in "$@"; do kill -0 "${np#*=}" 2>/dev/null && alive+=("$np"); done
    [[ ${#alive[@]} -eq 0 ]] && return 0
    sleep 0.1
  done
}

# 1. The kubelet first, so it does not restart what we stop next.
if pid="$(pid_of kubelet)"; then say "stop kubelet (pid $pid)"; stop_pids "kubelet=$pid"; fi

# 2. Every process in the pods' cgroups (the containers). Their network
#    namespaces go when the netns mounts are removed below, taking the veths along.
cgroup_dirs=()
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  [[ -d "/sys/fs/cgroup$cgroup_root" ]] && cgroup_dirs+=("/sys/fs/cgroup$cgroup_root")
else
  for h in /sys/fs/cgroup/*/; do
    [[ -d "$h${cgroup_root#/}" ]] && cgroup_dirs+=("$h${cgroup_root#/}")
  done
fi
pod_pids() {
  local d
  for d in "${cgroup_dirs[@]}"; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u
}
if [[ ${#cgroup_dirs[@]} -gt 0 ]]; then
  left="$(pod_pids | tr '\n' ' ')"
  if [[ -n "${left// /}" ]]; then
    say "kill container processes left in $cgroup_root: $left"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    for i in $(seq 1 50); do [[ -z "$(pod_pids)" ]] && break; sleep 0.1; done
  fi
fi

# 3. The components and containerd's shims for our socket (shims outlive containerd).
shims() {
  local p
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/exe" 2>/dev/null)" == *containerd-shim* ]] || continue
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-address $containerd_sock " && echo "${p#/proc/}"
  done
  return 0
}
# Everything but etcd at once, then etcd (the API server's shutdown waits on it).
running=()
for c in "${components[@]}"; do
  [[ "$c" == etcd ]] && continue
  if pid="$(pid_of "$c")"; then running+=("$c=$pid"); fi
done
for pid in $(shims); do running+=("containerd-shim=$pid"); done
if [[ ${#running[@]} -gt 0 ]]; then
  say "stop ${running[*]}"
  stop_pids "${running[@]}"
fi
if pid="$(pid_of etcd)"; then say "stop etcd=$pid"; stop_pids "etcd=$pid"; fi
left=()
for pid in $(shims); do left+=("containerd-shim=$pid"); done
[[ ${#left[@]} -eq 0 ]] || stop_pids "${left[@]}"

# 4. Mounts under the cluster dir (pod volumes, rootfs, netns), deepest first.
mounts() { awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r; }
for m in $(mounts); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
for m in $(mounts); do umount -l "$m" 2>/dev/null || true; done
[[ -z "$(mounts)" ]] || die "mounts under $dir remain: $(mounts | tr '\n' ' ')" 3

# 5. Network: bridge (its veths go with their netns), dummy, iptables rules and chains.
say "remove $cni_bridge, $lb_iface, KUBE-*/CNI-* iptables chains"
for l in $(ip -o link show master "$cni_bridge" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip link del "$l" 2>/dev/null || true
done
ip link del "$cni_bridge" 2>/dev/null || true
ip link del "$lb_iface" 2>/dev/null || true
# up.sh shortened unanswered SYN_SENT conntrack entries; give the host its own value back.
if [[ -f "$dir/syn_sent.orig" ]]; then
  cat "$dir/syn_sent.orig" >/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_syn_sent 2>/dev/null || true
  rm -f "$dir/syn_sent.orig"
fi
ip link del kube-ipvs0 2>/dev/null || true
# Rewrite each table without kube-proxy's and the CNI plugins' chains and rules
# and without up.sh's FORWARD rules (comment "kubegate"); other rules stay as they are.
for fam in iptables ip6tables; do
  command -v "$fam-save" >/dev/null || continue
  for t in filter nat mangle raw; do
    dump="$("$fam-save" -t "$t" 2>/dev/null)" || continue
    grep -qE 'KUBE-|CNI-|--comment "?kubegate"?( |$)' <<<"$dump" || continue
    # Restoring one table's dump replaces that table only.
    grep -vE 'KUBE-|CNI-|--comment "?kubegate"?( |$)' <<<"$dump" | "$fam-restore" ||
      echo "kubegate-local: warning: could not clean $fam table $t" >&2
  done
done
conntrack -D -s "$pod_cidr" >/dev/null 2>&1 || true

# 6. The pods' cgroups (children first), then the data dirs.
for d in "${cgroup_dirs[@]}"; do
  find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [[ -d "$d" ]] && echo "kubegate-local: warning: cgroup $d could not be removed" >&2
done
if [[ -d "$dir" ]]; then
  rm -rf "$dir"/{etcd,containerd,kubelet,cni,pki,kubeconfig,config,manifests,pids,cluster.env}
  rm -rf "$dir/logs.prev"
  [[ -d "$dir/logs" ]] && mv "$dir/logs" "$dir/logs.prev"
fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
$quiet || echo "    ok: local cluster down ($((ms / 1000)).$(((ms % 1000) / 100))s); previous logs in $dir/logs.prev"
