#!/usr/bin/env bash
# kubegate on the Phase IV repositories of fixtures/repos/ and on
# fixtures/taskly: time of `kubegate init` and of `kubegate check` (no
# config: discovery, helm template, every rule), the findings check reports,
# and checkov's failed checks on the same charts and manifests.
#
#   ci/bench/repos.sh                 # RUNS=5 timing runs per command (median)
#   KG_BEFORE=/path/to/old/kubegate ci/bench/repos.sh   # also the old binary's verdict
#   CHECKOV=0 ci/bench/repos.sh       # without checkov
#
# Each repository is checked in a copy without a kubegate.toml (taskly's own
# is left out), as a team that has not written one yet. checkov (PyPI) comes
# from ci/bench/checkov.sh's venv (installed when missing); it runs
# with --skip-download (no network here) on each chart (`-d CHART
# --framework helm`: it renders the chart itself) and on the manifest files
# kubegate checks (`-f FILE... --framework kubernetes`).
# Figures go to stdout; docs/benchmarks.md ("kubegate on Phase IV
# repositories") records them.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh

RUNS="${RUNS:-5}"
CHECKOV="${CHECKOV:-1}"
KG_BEFORE="${KG_BEFORE:-}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
say() { printf '==> %s\n' "$*" >&2; }

command -v helm >/dev/null || { echo "helm missing: run ci/setup.sh tools" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq missing (apt-get install jq)" >&2; exit 2; }

say "building kubegate (profile cli)"
cargo build --profile cli --quiet -p kubegate --bin kubegate
KG="${CARGO_TARGET_DIR:-$PWD/target}/cli/kubegate"

source ci/bench/checkov.sh
if [ "$CHECKOV" != 1 ]; then
  CK=""
elif ! ensure_checkov; then
  echo "checkov: cannot be installed: $(tail -1 "$CK_DIR/install.log")"
  CK=""
fi

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(helm version --short); kubegate $("$KG" --version | cut -d' ' -f2)${CK:+; checkov $("$CK" --version 2>/dev/null | tail -1)}"

# Median wall time in ms of RUNS runs of "$@" (run in the current directory).
median_ms() {
  local times=() start end
  for _ in $(seq "$RUNS"); do
    start=$(date +%s%N); "$@" >/dev/null 2>&1 || true; end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# checkov's failed checks on a repository copy: every chart, and the manifest files kubegate checked.
checkov_failed() { # dir manifests-dir-or-empty
  local dir=$1 manifests=$2 total=0 n chart files=()
  while IFS= read -r chart; do
    n=$({ "$CK" -d "$(dirname "$chart")" --framework helm --compact --quiet --skip-download -o json 2>/dev/null || true; } \
      | jq -s '[.[] | if type == "array" then .[] else . end | .results.failed_checks[]?] | length')
    total=$((total + n))
  done < <(find "$dir" -name Chart.yaml -not -path '*/node_modules/*')
  if [ -n "$manifests" ]; then
    for f in "$dir/$manifests"/*.yaml "$dir/$manifests"/*.yml; do [ -f "$f" ] && files+=(-f "$f"); done
    if [ "${#files[@]}" -gt 0 ]; then
      n=$({ "$CK" "${files[@]}" --framework kubernetes --compact --quiet --skip-download -o json 2>/dev/null || true; } \
        | jq -s '[.[] | if type == "array" then .[] else . end | .results.failed_checks[]?] | length')
      total=$((total + n))
    fi
  fi
  echo "$total"
}

printf '\n%-16s %8s %8s %5s %9s  %-34s %s\n' repo "init ms" "check ms" exit findings "by severity" "${KG_BEFORE:+before}"
rows=()
for src in fixtures/repos/*/ fixtures/taskly/; do
  name=$(basename "$src")
  copy="$WORK/$name"; mkdir -p "$copy"; cp -r "$src". "$copy/"; rm -f "$copy/kubegate.toml" "$copy/expect.toml"

  init_ms=$(median_ms "$KG" init "$copy" --output "$WORK/$name.toml" --force)
  check_ms=$(cd "$copy" && median_ms "$KG" check --format json)
  set +e; (cd "$copy" && "$KG" check --format json >"$WORK/$name.json" 2>"$WORK/$name.err"); code=$?; set -e
  if [ "$code" -le 1 ]; then
    findings=$(jq '[.findings[] | select(.waived == null)] | length' "$WORK/$name.json")
    sev=$(jq -r '[.findings[] | select(.waived == null) | .severity] | group_by(.) | map({s: .[0], n: length})
      | sort_by({"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}[.s]) | map("\(.s) \(.n)") | join(", ")' \
      "$WORK/$name.json")
    manifests=$(jq -r '.summary.by_scope.raw.source // empty' "$WORK/$name.json" | sed "s#^$copy/##; s#^\./##")
  else
    findings="-"; sev="(exit 2: $(grep -o 'templates/[^ ]*:[0-9]*' "$WORK/$name.err" | head -1))"; manifests=""
  fi
  before=""
  if [ -n "$KG_BEFORE" ]; then
    set +e; (cd "$copy" && "$KG_BEFORE" check >/dev/null 2>"$WORK/$name.before"); bcode=$?; set -e
    before="exit $bcode: $(grep -m1 -o 'cannot read the [^:]*\|error: .*' "$WORK/$name.before" | head -c 60)"
  fi
  printf '%-16s %8s %8s %5s %9s  %-34s %s\n' "$name" "$init_ms" "$check_ms" "$code" "$findings" "$sev" "$before"
  rows+=("$name|$copy|$manifests|$findings")
done

[ -n "$CK" ] || exit 0
printf '\n%-16s %9s %14s %10s\n' repo kubegate "checkov failed" "checkov ms"
for row in "${rows[@]}"; do
  IFS='|' read -r name copy manifests findings <<<"$row"
  start=$(date +%s%N); failed=$(checkov_failed "$copy" "$manifests"); end=$(date +%s%N)
  printf '%-16s %9s %14s %10s\n' "$name" "$findings" "$failed" "$(( (end - start) / 1000000 ))"
done
