#!/usr/bin/env bash
# ci/bench/stale-conntrack.sh: why a new connection to a LoadBalancer address
# can get no answer (issue 13's second symptom), measured on the local
# cluster, with the host's nf_conntrack_tcp_timeout_syn_sent at the kernel's
# 120 s and at the 5 s ci/k8s/up.sh sets.
#
# Per setting: a Deployment of the cluster's testbox image behind a
# LoadBalancer Service takes new-connection load (connect, GET, close) from
# this host; its namespace is deleted under the load, so connection attempts
# reach pods as they die; the same Service is created in a new namespace
# (MetalLB hands out the same address again) and takes load again. Printed:
# unanswered SYN_SENT conntrack entries for the address before the second
# load, and the second load's failed connections (they should be 0: nothing
# is wrong with the new namespace).
#
# Needs a running local cluster (ci/setup.sh k8s), root, python3, conntrack.
# Environment: KUBEGATE_BENCH_WORKERS (load connections at once, default 8).
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh
source ci/k8s/lib.sh
export KUBECONFIG="$dir/kubeconfig/admin.kubeconfig"
workers="${KUBEGATE_BENCH_WORKERS:-8}"
out="target/kubegate/bench-conntrack"
mkdir -p "$out"
knob=/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_syn_sent
before="$(cat "$knob")"
trap 'echo "$before" >"$knob"; kubectl delete ns kg-conntrack-a kg-conntrack-b --ignore-not-found --wait=false >/dev/null 2>&1 || true' EXIT

manifest() {
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: web
        image: $TESTBOX_IMAGE
        imagePullPolicy: Never
        args: ["serve", "-addr", ":8080"]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
}

deploy() { # NAMESPACE -> prints the LoadBalancer address
  kubectl create ns "$1" >/dev/null
  manifest | kubectl -n "$1" apply -f - >/dev/null
  kubectl -n "$1" rollout status deploy/web --timeout=120s >/dev/null
  local ip=""
  for _ in $(seq 60); do
    ip="$(kubectl -n "$1" get svc web -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
    [[ -n "$ip" ]] && curl -sf -m 2 "http://$ip/healthz" >/dev/null && break
    sleep 1
  done
  echo "$ip"
}

load() { # ADDRESS SECONDS -> "ok=N failed=N" and the first failures
  python3 - "$1" "$2" "$workers" <<'EOF'
import socket, sys, threading, time
ip, secs, workers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
stop, lock, ok, fails = time.time() + secs, threading.Lock(), [0], []
def run():
    while time.time() < stop:
        s = socket.socket(); s.settimeout(3)
        try:
            s.connect((ip, 80)); s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(4096): pass
            with lock: ok[0] += 1
        except OSError as e:
            with lock: fails.append(f"{time.time() - stop + secs:6.2f}s {type(e).__name__}: {e}")
        finally:
            s.close()
threads = [threading.Thread(target=run) for _ in range(workers)]
[t.start() for t in threads]; [t.join() for t in threads]
print(f"ok={ok[0]} failed={len(fails)}")
for f in fails[:5]: print("   ", f)
EOF
}

declare -A result
for setting in 120 5; do
  echo "$setting" >"$knob"
  echo "==> nf_conntrack_tcp_timeout_syn_sent = $setting s"
  ip="$(deploy kg-conntrack-a)"
  echo "    first namespace: address $ip; load for 40 s, namespace deleted after 30 s"
  load "$ip" 40 >"$out/first-$setting.txt" &
  pid=$!
  sleep 30
  kubectl delete ns kg-conntrack-a --wait=false >/dev/null
  wait "$pid" || true
  echo "    first load: $(head -1 "$out/first-$setting.txt") (failures after the deletion are expected)"
  kubectl wait --for=delete ns/kg-conntrack-a --timeout=120s >/dev/null
  ip2="$(deploy kg-conntrack-b)"
  stale="$(conntrack -L -d "$ip2" 2>/dev/null | grep -c SYN_SENT || true)"
  echo "    second namespace: address $ip2 (same: $([[ "$ip" == "$ip2" ]] && echo yes || echo no)); unanswered SYN_SENT entries for it: $stale"
  load "$ip2" 20 >"$out/second-$setting.txt"
  sed 's/^/    second load: /' "$out/second-$setting.txt"
  result[$setting]="$stale | $(head -1 "$out/second-$setting.txt")"
  kubectl delete ns kg-conntrack-b --wait=true --timeout=120s >/dev/null
done

echo
echo "## Stale conntrack entries (ci/bench/stale-conntrack.sh, $workers connections at once)"
echo
echo "| syn_sent timeout | unanswered SYN_SENT entries for the reused address | second load (new namespace, same address) |"
echo "|---|---|---|"
for setting in 120 5; do echo "| $setting s | ${result[$setting]} |"; done
