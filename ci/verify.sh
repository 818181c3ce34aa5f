#!/usr/bin/env bash
# README's main-job command: set up a fresh machine, then run `kubegate verify`
# on this repo's chatbot (kubegate.toml), on a local cluster kubegate starts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
source ci/env.sh
source ci/progress.sh
# The CLI's own profile (Cargo.toml [profile.cli]): built for compile time,
# not size; the images keep `release`.
with_progress "kubegate CLI build (cargo --profile cli)" "5-10 min" cargo build --profile cli -p kubegate --bin kubegate
exec "${CARGO_TARGET_DIR:-target}/cli/kubegate" verify "$@"
