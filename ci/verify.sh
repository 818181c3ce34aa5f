#!/usr/bin/env bash
# README's main-job command: set up a fresh machine, then run `kubegate verify`
# on this repo's chatbot (kubegate.toml), on a local cluster kubegate starts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
source ci/env.sh
cargo build --release -p kubegate
exec target/release/kubegate verify "$@"
