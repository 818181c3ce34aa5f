#!/usr/bin/env bash
# ci/bench/rollout.sh: the rolling-upgrade check (LIVE-ROLLOUT-UPGRADE)
# repeated on the local cluster, both paths at once, once on an idle machine
# and once with the machine loaded by a parallel cargo build. Prints, per
# upgrade, the requests sent and lost; every lost request is laid out beside
# the pod and endpoint changes around it (target/kubegate/bench-rollout/*.err).
# Ends with a Markdown block for docs/benchmarks.md (## Rolling upgrade).
#
# Needs a running cluster (ci/setup.sh k8s) and Docker.
# Environment:
#   KUBEGATE_BENCH_RUNS  upgrades per path and condition (default 20)
#   KUBEGATE_BENCH_LOAD  0 to skip the loaded condition (default 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh

runs="${KUBEGATE_BENCH_RUNS:-20}"
out="target/kubegate/bench-rollout"
mkdir -p "$out"
cargo build -q -p kubegate-suites --example rollout_bench
bench="$PWD/target/debug/examples/rollout_bench"

# A parallel cargo build of the whole workspace in a scratch target dir,
# started again each time it finishes, until killed.
load_pid=""
start_load() {
  ( while true; do
      rm -rf "$out/load-target"
      cargo build -q --workspace --target-dir "$out/load-target" >/dev/null 2>&1 || true
    done ) &
  load_pid=$!
}
stop_load() {
  [[ -n "$load_pid" ]] || return 0
  pkill -P "$load_pid" 2>/dev/null || true
  kill "$load_pid" 2>/dev/null || true
  pkill -f -- "--target-dir $out/load-target" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  rm -rf "$out/load-target"
  load_pid=""
}
trap stop_load EXIT

conditions=(idle)
[[ "${KUBEGATE_BENCH_LOAD:-1}" == 1 ]] && conditions+=(loaded)
status=0
for cond in "${conditions[@]}"; do
  echo "== $cond: $runs upgrades per path"
  [[ "$cond" == loaded ]] && { start_load; sleep 20; echo "   load: cargo build --workspace (pid $load_pid), load average $(cut -d' ' -f1 /proc/loadavg)"; }
  start=$(date +%s)
  "$bench" "$runs" "$cond" >"$out/$cond.tsv" 2>"$out/$cond.err" || status=1
  echo "   done in $(( $(date +%s) - start ))s, load average $(cut -d' ' -f1 /proc/loadavg)"
  [[ "$cond" == loaded ]] && stop_load
  cat "$out/$cond.tsv"
done

echo
python3 - "$out" "${conditions[@]}" <<'PY'
import statistics, sys
out, conds = sys.argv[1], sys.argv[2:]
print("| condition | path | upgrades | requests sent | lost | upgrades with a loss | upgrade s (median) |")
print("|---|---|---|---|---|---|---|")
for c in conds:
    rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/{c}.tsv") if l.strip()]
    for p in ("raw", "helm"):
        mine = [r for r in rows if r[1] == p]
        ok = [r for r in mine if r[3] != "-"]
        sent = sum(int(r[3]) for r in ok)
        lost = sum(int(r[4]) for r in ok)
        bad = sum(1 for r in mine if r[3] == "-" or int(r[4]) > 0)
        med = statistics.median(float(r[5]) for r in ok) if ok else float("nan")
        print(f"| {c} | {p} | {len(mine)} | {sent} | {lost} | {bad} | {med:.1f} |")
PY
[[ $status == 0 ]] || echo "some request was lost: see $out/*.err"
exit $status
