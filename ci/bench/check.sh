#!/usr/bin/env bash
# Benchmark of `kubegate check` (release build) on this repo: both deploy
# paths, helm rendering included, over several runs (hyperfine); then how
# many of fixtures/mutants/ it catches. Where checkov installs from PyPI (a
# venv under ~/.cache/kubegate/checkov/), the same for checkov on the same
# raw manifests and rendered chart.
#
#   ci/bench/check.sh            # RUNS=10 timing runs; CHECKOV=0 skips checkov
#
# Figures go to stdout; docs/benchmarks.md ("kubegate check") records them.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh

RUNS="${RUNS:-10}"
CHECKOV="${CHECKOV:-1}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

say() { printf '==> %s\n' "$*" >&2; }

command -v helm >/dev/null || { echo "helm missing: run ci/setup.sh tools" >&2; exit 2; }
if ! command -v hyperfine >/dev/null; then
  say "installing hyperfine (apt)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq hyperfine >/dev/null || true
  else sudo apt-get install -y -qq hyperfine >/dev/null || true; fi
fi

say "building kubegate (profile cli) and the mutant builder"
cargo build --profile cli --quiet -p kubegate --bin kubegate -p kubegate-suites --bin kubegate-mutants
KG="${CARGO_TARGET_DIR:-$PWD/target}/cli/kubegate"
MUT="${CARGO_TARGET_DIR:-$PWD/target}/cli/kubegate-mutants"

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(helm version --short)"

# --- 1. wall time of kubegate check --------------------------------------
"$KG" check >/dev/null || { echo "kubegate check fails on the clean tree" >&2; exit 1; }
if command -v hyperfine >/dev/null; then
  hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$WORK/kg.json" \
    "$KG check" "$KG check --manifests manifests" "$KG check --chart charts/todo-chatbot" >&2
  jq -r '.results[] | "kubegate: \(.command | sub(".*/kubegate "; "kubegate ")): mean \(.mean*1000|floor) ms, min \(.min*1000|floor) ms, max \(.max*1000|floor) ms (\(.times|length) runs)"' "$WORK/kg.json"
else
  start=$(date +%s%N); for _ in $(seq "$RUNS"); do "$KG" check >/dev/null; done; end=$(date +%s%N)
  echo "kubegate: kubegate check: mean $(( (end - start) / RUNS / 1000000 )) ms ($RUNS runs, no hyperfine)"
fi

# --- 2. mutants caught by kubegate ----------------------------------------
say "building $("$MUT" list | wc -l) mutants"
"$MUT" build "$WORK/mutants" 2>/dev/null
kg_caught=0; kg_total=0; kg_missed=()
for dir in "$WORK"/mutants/*/; do
  meta="$dir/mutant.json"; name=$(jq -r .name "$meta"); path=$(jq -r .path "$meta")
  exit_want=$(jq -r .exit "$meta"); values=$(jq -r '.values // empty' "$meta")
  vargs=(); [ -n "$values" ] && vargs=(--values "$values")
  cfg=(); [ -f "$dir/kubegate.toml" ] && cfg=(--config kubegate.toml)
  runs=()
  case "$path" in
    raw) runs=("raw") ;; helm) runs=("helm") ;; both) runs=("raw" "helm") ;; parity) runs=("parity") ;;
  esac
  ok=1
  for scope in "${runs[@]}"; do
    case "$scope" in
      raw) args=(--manifests manifests) ;;
      helm) args=(--chart charts/todo-chatbot "${vargs[@]}") ;;
      parity) args=("${vargs[@]}") ;;
    esac
    set +e; out=$(cd "$dir" && "$KG" check "${cfg[@]}" --format json "${args[@]}" 2>"$WORK/err"); code=$?; set -e
    if [ "$code" != "$exit_want" ]; then ok=0; continue; fi
    [ "$code" = 2 ] && continue
    for rule in $(jq -r '.expect[]' "$meta"); do
      if [ "$scope" = parity ]; then sel='.findings[] | select(.waived == null) | .rule_id'
      else sel=".findings[] | select(.waived == null and .path == \"$scope\") | .rule_id"; fi
      echo "$out" | jq -r "$sel" | grep -qx "$rule" || ok=0
    done
  done
  kg_total=$((kg_total + 1))
  if [ "$ok" = 1 ]; then kg_caught=$((kg_caught + 1)); else kg_missed+=("$name"); fi
done
echo "kubegate: caught $kg_caught of $kg_total mutants (by the expected rule on the expected path)${kg_missed:+; missed: ${kg_missed[*]}}"

# --- 3. checkov on the same inputs ----------------------------------------
[ "$CHECKOV" = 1 ] || exit 0
source ci/bench/checkov.sh
ensure_checkov || { echo "checkov: not installable here (see $CK_DIR/install.log); skipped"; exit 0; }
echo "checkov: $("$CK" --version 2>/dev/null | tail -1)"

# Failed checks of a tree as "check_id resource" lines: raw manifests
# directory and/or the rendered chart (helm template, as kubegate renders it).
checkov_failed() { # dir scope values
  local dir=$1 scope=$2 values=${3:-}
  local files=()
  if [ "$scope" = raw ] || [ "$scope" = both ]; then files+=("$dir"/manifests/*.yaml); fi
  if [ "$scope" = helm ] || [ "$scope" = both ]; then
    local vargs=(); [ -n "$values" ] && vargs=(-f "$values")
    helm template todo-chatbot "$dir/charts/todo-chatbot" --namespace todo-chatbot "${vargs[@]}" >"$dir/rendered.yaml" 2>/dev/null || return 0
    files+=("$dir/rendered.yaml")
  fi
  local fargs=(); for f in "${files[@]}"; do fargs+=(-f "$f"); done
  # checkov exits 1 when a check fails: that is its answer, not an error.
  { "$CK" --quiet --compact --framework kubernetes -o json "${fargs[@]}" 2>/dev/null || true; } \
    | jq -r '(if type == "array" then .[] else . end) | .results.failed_checks[]? | "\(.check_id) \(.resource)"' | sort -u
}

mkdir -p "$WORK/clean"; cp -r manifests charts "$WORK/clean/"
time_ck() {
  local start end
  start=$(date +%s%N); for _ in 1 2 3; do checkov_failed "$WORK/clean" both >/dev/null; done; end=$(date +%s%N)
  echo "checkov: raw manifests + rendered chart: mean $(( (end - start) / 3 / 1000000 )) ms (3 runs, helm template included)"
}
time_ck
checkov_failed "$WORK/clean" both >"$WORK/baseline"
echo "checkov: $(wc -l <"$WORK/baseline") failed checks on the clean tree (kubegate: 0)"

ck_caught=0; ck_total=0
for dir in "$WORK"/mutants/*/; do
  meta="$dir/mutant.json"; path=$(jq -r .path "$meta"); values=$(jq -r '.values // empty' "$meta")
  scope=$path; [ "$scope" = parity ] && scope=both
  checkov_failed "$dir" "$scope" "$values" | sed "s#$dir##g" >"$WORK/now"
  # Caught = a failed check (id + resource) the clean tree does not have.
  new=$(comm -13 "$WORK/baseline" "$WORK/now" | wc -l)
  ck_total=$((ck_total + 1)); [ "$new" -gt 0 ] && ck_caught=$((ck_caught + 1))
done
echo "checkov: caught $ck_caught of $ck_total mutants (a failed check on a resource the clean tree passes)"
