# Progress for the long steps of a first run (sourced by ci/setup/*.sh and
# ci/verify.sh): what a step costs cold, and a line every minute while it runs,
# so a fresh machine's hour of building never looks like a hang.

# with_progress LABEL ESTIMATE CMD...: say LABEL's cold estimate, run CMD and,
# while it runs, print the time so far every $KUBEGATE_PROGRESS_SECS (60) s.
# Returns CMD's exit code; prints the time it took.
with_progress() {
  local label="$1" estimate="$2" start ticker rc
  shift 2
  start=$(date +%s)
  echo "    $label: started (cold on 2 cores: $estimate)"
  # The ticker's sleep must end with it: a leftover sleep would hold the
  # caller's stdout (a pipe) open for up to a minute.
  (
    nap=""
    trap '[[ -n "$nap" ]] && kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
      sleep "${KUBEGATE_PROGRESS_SECS:-60}" &
      nap=$!
      wait "$nap"
      echo "    ... $label: $(( ($(date +%s) - start) / 60 )) min so far (cold: $estimate)"
    done
  ) &
  ticker=$!
  set +e
  "$@"
  rc=$?
  set -e
  kill "$ticker" 2>/dev/null
  wait "$ticker" 2>/dev/null || true
  echo "    $label: $( ((rc == 0)) && echo done || echo "failed (exit $rc)") in $(( $(date +%s) - start ))s"
  return "$rc"
}
