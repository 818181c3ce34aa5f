#!/usr/bin/env bash
# README's test command: set up everything on a fresh machine, then run every
# suite with nextest (static, containers, local cluster, live, both paths).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
source ci/env.sh
cargo nextest run --workspace --profile ci "$@"
