#!/usr/bin/env bash
# One idempotent set-up for a fresh machine: installs what kubegate needs,
# starts the daemons the live suites use, and builds (or reuses) the local
# cluster's components. Every part caches under ~/.cache/kubegate/ and is a
# no-op the second time. Run as root (Debian); see README.md.
#
#   ci/setup.sh            everything (tools, docker, postgres, local cluster build)
#   ci/setup.sh tools      only helm/kubectl/nextest/musl
#   ci/setup.sh tools docker postgres k8s   any subset, in that order
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(tools docker postgres k8s)
for part in "${parts[@]}"; do
  script="$here/setup/$part.sh"
  [[ -f "$script" ]] || { echo "ci/setup.sh: unknown part '$part' (have: $(ls "$here/setup" | sed 's/\.sh$//' | tr '\n' ' '))" >&2; exit 2; }
  echo "==> setup: $part"
  start=$(date +%s)
  bash "$script"
  echo "    ok: $part ($(( $(date +%s) - start ))s)"
done
