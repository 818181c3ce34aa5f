#!/usr/bin/env bash
# Says whether kubegate's local cluster is running: each component's pid and
# the API server's /readyz. Exit 0 when running and ready, 1 when not running,
# 3 when partly running (a component died; ci/k8s/up.sh recovers).
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
alive=0 dead=()
for c in "${components[@]}"; do
  if pid="$(pid_of "$c")"; then
    echo "$c: running (pid $pid)"; alive=$((alive + 1))
  else
    echo "$c: not running"; dead+=("$c")
  fi
done
if [[ $alive -eq 0 ]]; then echo "local cluster: not running ($dir)"; exit 1; fi
if [[ ${#dead[@]} -gt 0 ]]; then
  echo "local cluster: partly running, stopped: ${dead[*]} (logs: $dir/logs; ci/k8s/up.sh recovers)"; exit 3
fi
if curl -fsS --max-time 3 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
  "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1 && [[ -f "$dir/cluster.env" ]]; then
  echo "local cluster: ready"; cat "$dir/cluster.env"; exit 0
fi
echo "local cluster: processes running but not ready (API /readyz failing or up.sh not finished)"; exit 3
