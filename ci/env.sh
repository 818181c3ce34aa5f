# Sourced by ci/*.sh: puts kubegate's cached tools on PATH.
export KUBEGATE_CACHE="${KUBEGATE_CACHE:-$HOME/.cache/kubegate}"
export PATH="$KUBEGATE_CACHE/tools/bin:$HOME/.cargo/bin:$PATH"
