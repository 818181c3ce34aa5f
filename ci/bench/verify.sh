#!/usr/bin/env bash
# ci/bench/verify.sh: `kubegate verify` timed on one running cluster.
#   1. N consecutive runs (default 10): each must pass (exit 0) and leave no
#      namespace labelled with its run id;
#   2. figures from each run's timings.json: time to verdict, the rollout
#      waits against the kubelet's Ready (overhead of waiting), requests lost
#      during the rolling upgrades, how long namespaces took to go;
#   3. kill -9 of a run once its namespaces exist, then a new run: it must
#      sweep the killed run's namespaces and pass.
# Prints a Markdown block for docs/benchmarks.md (## kubegate verify).
#
# Needs a running cluster (ci/setup.sh k8s) and Docker. Never brings a
# cluster down ("cold" = first run after `kubegate cluster up`; set
# KUBEGATE_BENCH_COLD=1 to also time `kubegate cluster down/up` + verify,
# only on a cluster nobody else uses).
#
# Environment:
#   KUBEGATE_BENCH_RUNS   number of consecutive runs (default 10)
#   KUBEGATE_BENCH_ARGS   extra verify flags, e.g. --quick (skip destructive checks)
#   KUBEGATE_BENCH_KILL   0 to skip the kill -9 scenario (default 1)
#   KUBEGATE_BIN          the kubegate binary to time (default: built with --profile cli)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh

runs="${KUBEGATE_BENCH_RUNS:-10}"
args="${KUBEGATE_BENCH_ARGS:-}"
out="target/kubegate/bench-verify"
mkdir -p "$out"

# KUBEGATE_BIN: a kubegate already built (e.g. target/debug/kubegate); else the CLI profile's.
bin="${KUBEGATE_BIN:-}"
if [[ -z "$bin" ]]; then
  cargo build -q --profile cli -p kubegate
  bin="${CARGO_TARGET_DIR:-$PWD/target}/cli/kubegate"
fi
kubeconfig="${KUBECONFIG:-$PWD/target/kubegate/cluster/kubeconfig/admin.kubeconfig}"
kc() { kubectl --kubeconfig "$kubeconfig" "$@"; }

# Namespaces labelled with run id $1 (any phase, Terminating included).
left_of() { kc get ns -l "kubegate.io/run-id=$1" -o name 2>/dev/null | wc -l; }

if [[ "${KUBEGATE_BENCH_COLD:-0}" == 1 ]]; then
  echo "== cold: cluster down, then verify (starts the cluster)"
  "$bin" cluster down --provider local
  start=$(date +%s.%N)
  "$bin" verify $args --report-dir "$out/cold" >"$out/cold.log" 2>&1 || { echo "cold run failed: see $out/cold.log"; exit 1; }
  cold=$(echo "$(date +%s.%N) - $start" | bc)
  echo "cold verdict: ${cold}s"
fi

pass=0
fail=0
: >"$out/runs.tsv"
for i in $(seq 1 "$runs"); do
  dir="$out/run-$i"
  rm -rf "$dir"
  start=$(date +%s.%N)
  set +e
  "$bin" verify $args --report-dir "$dir" >"$dir.log" 2>&1
  rc=$?
  set -e
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  run=$(sed -n 's/^kubegate verify: run \([a-z0-9]*\),.*/\1/p' "$dir.log" | head -n1)
  left=$(left_of "$run")
  if [[ $rc == 0 && $left == 0 ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  verdict=$(jq -r '.verdict_secs' "$dir/timings.json" 2>/dev/null || echo NA)
  lost=$(jq -r '[.upgrades[].lost] | add // "NA"' "$dir/timings.json" 2>/dev/null || echo NA)
  sent=$(jq -r '[.upgrades[].sent] | add // "NA"' "$dir/timings.json" 2>/dev/null || echo NA)
  printf '%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n' "$i" "$run" "$rc" "$wall" "$verdict" "$left" "$sent" "$lost" | tee -a "$out/runs.tsv"
done

# Wait overhead over all runs: seconds between the kubelet's Ready and the wait's end.
jq -s '[.[].waits[] | select(.overhead_secs != null) | .overhead_secs] | sort' "$out"/run-*/timings.json >"$out/overheads.json" 2>/dev/null || echo '[]' >"$out/overheads.json"
jq -s '[.[].waits[] | .took_secs] | sort' "$out"/run-*/timings.json >"$out/waits.json" 2>/dev/null || echo '[]' >"$out/waits.json"
jq -s '[.[].teardowns[]? | select(.of != "shared") | .secs] | sort' "$out"/run-*/timings.json >"$out/teardowns.json" 2>/dev/null || echo '[]' >"$out/teardowns.json"
jq -s '[.[].teardowns[]? | select(.of == "shared") | .secs] | sort' "$out"/run-*/timings.json >"$out/teardowns-shared.json" 2>/dev/null || echo '[]' >"$out/teardowns-shared.json"
stat() { jq -r 'if length == 0 then "n/a" else "median \(.[length/2|floor]|.*10|round/10)s, max \(.[-1]|.*10|round/10)s (n=\(length))" end' "$1"; }

kill_line="skipped"
if [[ "${KUBEGATE_BENCH_KILL:-1}" == 1 ]]; then
  echo "== kill -9 mid-run, then a new run"
  "$bin" verify $args --report-dir "$out/killed" >"$out/killed.log" 2>&1 &
  victim=$!
  killed_run=""
  for _ in $(seq 1 600); do
    killed_run=$(sed -n 's/^kubegate verify: run \([a-z0-9]*\),.*/\1/p' "$out/killed.log" | head -n1)
    [[ -n "$killed_run" && $(left_of "$killed_run") -ge 2 ]] && break
    sleep 0.5
  done
  sleep 5
  kill -9 "$victim" 2>/dev/null || true
  wait "$victim" 2>/dev/null || true
  before=$(left_of "$killed_run")
  set +e
  "$bin" verify $args --report-dir "$out/after-kill" >"$out/after-kill.log" 2>&1
  rc=$?
  set -e
  after=$(left_of "$killed_run")
  swept=$(grep -c "leftover namespace kg-$killed_run" "$out/after-kill.log" || true)
  kill_line="killed run $killed_run left $before namespace(s); the next run swept $swept, exit $rc, $after left"
  echo "$kill_line"
fi

# Every namespace any kubegate run labelled (destructive checks use run ids
# of their own): after the last run, none may be left.
all_left=$(kc get ns -l kubegate.io/run-id -o name 2>/dev/null | wc -l)

echo
echo "## kubegate verify (figures)"
echo
echo "Command: \`KUBEGATE_BENCH_RUNS=$runs KUBEGATE_BENCH_ARGS='$args' ci/bench/verify.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d)."
echo
echo "| run | run id | exit | wall (s) | verdict (s) | namespaces left | upgrade requests | lost |"
echo "|---|---|---|---|---|---|---|---|"
while IFS=$'\t' read -r i run rc wall verdict left sent lost; do
  echo "| $i | $run | $rc | $wall | $verdict | $left | $sent | $lost |"
done <"$out/runs.tsv"
echo
echo "- consecutive runs: $pass passed, $fail failed (pass = exit 0 and no namespace of the run left)"
echo "- rollout waits: $(stat "$out/waits.json")"
echo "- wait overhead (wait end minus kubelet Ready, 1 s API resolution): $(stat "$out/overheads.json")"
echo "- namespace teardowns (start of teardown to namespace gone): destructive checks' $(stat "$out/teardowns.json"); shared $(stat "$out/teardowns-shared.json")"
echo "- kill -9: $kill_line"
echo "- namespaces labelled kubegate.io/run-id left after the bench: $all_left"
[[ -n "${cold:-}" ]] && echo "- cold (cluster down -> up -> verdict): ${cold}s"
[[ $fail == 0 && $all_left == 0 ]]
