#!/usr/bin/env bash
# ci/bench/partition.sh: the live binary split with nextest's own engine, as
# the user workflows split it across runners (ci/workflows/*.yml): build
# once (`cargo nextest archive`), then run `--partition count:K/N` for
# N = 1, 2, 3, the N partitions at once on this machine's one local cluster.
# On runners each partition has a cluster and shared deployments of its own;
# here the N partitions share one node, so they share one pair of shared
# deployments (KUBEGATE_LIVE_RUN_KEY: one key for the N nextest runs) and
# zz_teardown runs once after the last partition, as on one runner. Each
# destructive case still has a namespace of its own. Prints, per N, the time
# to the last verdict and the cases each partition ran, and checks that the
# partitions' cases add up to the whole, each case exactly once.
#
# Needs a running local cluster (ci/setup.sh k8s) and Docker.
# Environment:
#   KUBEGATE_BENCH_PARTITIONS  the values of N (default "1 2 3")
#   KUBEGATE_BENCH_FILTER      the nextest filter (default 'binary(live)')
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh

partitions="${KUBEGATE_BENCH_PARTITIONS:-1 2 3}"
filter="${KUBEGATE_BENCH_FILTER:-binary(live)}"
# The partitioned cases; zz_teardown runs once after them.
filter="($filter) & not test(zz_teardown)"
out="target/kubegate/bench-partition"
mkdir -p "$out"
archive="$out/suites.tar.zst"
echo "==> archive: cargo nextest archive -p kubegate-suites"
cargo nextest archive -p kubegate-suites --archive-file "$archive" >"$out/archive.log" 2>&1 ||
  { cat "$out/archive.log"; exit 1; }

run_partition() { # N K: one partition, its cases and its summary in $out/N-K.*
  local n="$1" k="$2"
  cargo nextest list --archive-file "$archive" --workspace-remap . -E "$filter" \
    --partition "count:$k/$n" --message-format oneline 2>/dev/null >"$out/$n-$k.cases"
  # The machine's test threads divided among the partitions running at once.
  NEXTEST_TEST_THREADS="$(( (threads + n - 1) / n ))" \
    cargo nextest run --archive-file "$archive" --workspace-remap . --profile ci -E "$filter" \
    --partition "count:$k/$n" >"$out/$n-$k.log" 2>&1
}
threads="${NEXTEST_TEST_THREADS:-$(( $(nproc) * 3 ))}"

all="$out/all.cases"
cargo nextest list --archive-file "$archive" --workspace-remap . -E "$filter" --message-format oneline \
  2>/dev/null | sort >"$all"
echo "==> $(wc -l <"$all") cases match $filter"

declare -A took verdict
for n in $partitions; do
  echo "==> $n partition(s) at once"
  start=$(date +%s)
  export KUBEGATE_LIVE_RUN_KEY="bench-partition-$n-$start"
  pids=()
  for k in $(seq 1 "$n"); do
    run_partition "$n" "$k" &
    pids+=($!)
  done
  ok=pass
  for p in "${pids[@]}"; do wait "$p" || ok=FAIL; done
  took[$n]=$(( $(date +%s) - start ))
  cargo nextest run --archive-file "$archive" --workspace-remap . --profile ci \
    -E 'binary(live) & test(zz_teardown)' >"$out/$n-teardown.log" 2>&1 || ok=FAIL
  verdict[$n]=$ok
  union="$out/$n.union"
  cat "$out/$n"-*.cases | sort >"$union"
  if ! diff -q "$all" "$union" >/dev/null; then
    echo "    the partitions' cases differ from the whole:"; diff "$all" "$union" | head -20
    exit 1
  fi
  for k in $(seq 1 "$n"); do
    printf '    partition %s/%s: %3s cases, %s\n' "$k" "$n" "$(wc -l <"$out/$n-$k.cases")" \
      "$(grep -E '^ +Summary' "$out/$n-$k.log" | tail -1 | sed 's/^ *//')"
  done
  echo "    union of the partitions = the whole ($(wc -l <"$union") cases, each once); last verdict after ${took[$n]} s: ${verdict[$n]}"
done

echo
echo "## Live binary in partitions (ci/bench/partition.sh, $(nproc) cores, one local cluster)"
echo
echo "| partitions at once | time to the last verdict | verdict |"
echo "|---|---|---|"
for n in $partitions; do echo "| $n | ${took[$n]} s | ${verdict[$n]} |"; done
for n in $partitions; do [[ "${verdict[$n]}" == pass ]] || exit 1; done
