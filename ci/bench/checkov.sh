# Sourced by the benches that compare with checkov (ci/bench/check.sh,
# ci/bench/repos.sh): one venv for it, under the cache.
#
#   ensure_checkov || <what the caller does without it>
#
# Sets CK to the checkov executable; installs it from PyPI on first use.
# On failure returns 1 and leaves pip's output in $CK_DIR/install.log.
CK_DIR="$KUBEGATE_CACHE/checkov"
CK="$CK_DIR/venv/bin/checkov"
ensure_checkov() {
  [ -x "$CK" ] && return 0
  printf '==> %s\n' "installing checkov into $CK_DIR/venv (pip)" >&2
  mkdir -p "$CK_DIR"
  { python3 -m venv "$CK_DIR/venv" && "$CK_DIR/venv/bin/pip" install -q checkov; } >"$CK_DIR/install.log" 2>&1
}
