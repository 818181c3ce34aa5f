#!/usr/bin/env bash
# README's test command: gate on fmt and clippy (ci/lint.sh), set up everything
# on a fresh machine, then run every suite with nextest (static, containers,
# local cluster, live, both paths).
# Extra arguments go to nextest (e.g. `ci/test.sh -E 'binary(live)'`).
set -euo pipefail
cd "$(dirname "$0")/.."
# Formatting and clippy first: a failure there stops the run before the
# set-up (which may build Kubernetes) and the suites.
bash ci/lint.sh
bash ci/setup.sh
source ci/env.sh

# Build the CLI and the chatbot images once, here, with progress in the log,
# rather than inside the first test that needs them.
cargo build -p kubegate --bin kubegate
export KUBEGATE_BIN="$PWD/target/debug/kubegate"
"$KUBEGATE_BIN" images build

# Whatever happens, leave no cluster running behind the run.
trap '"$KUBEGATE_BIN" cluster down --provider local || true' EXIT
# Three test threads per core: the live cases mostly wait on the cluster
# (.config/nextest.toml); NEXTEST_TEST_THREADS overrides.
export NEXTEST_TEST_THREADS="${NEXTEST_TEST_THREADS:-$(( $(nproc) * 3 ))}"
cargo nextest run --workspace --profile ci "$@"

# The second deployment under test, fixtures/taskly (other names, ports,
# probe paths, two Secrets, header auth, no fault routes; nothing in the
# harness knows them): every live check on both paths by `kubegate verify`
# (its JUnit classes read kubegate.taskly.<path>.<principle>), then the
# broken variants, which must fail on it too (JUnit: target/nextest/ci-taskly/).
if [[ $# -eq 0 ]]; then
  "$KUBEGATE_BIN" verify --config fixtures/taskly/kubegate.toml --provider local --report-dir target/kubegate/ci-taskly
  KUBEGATE_CONFIG=fixtures/taskly/kubegate.toml \
    cargo nextest run -p kubegate-suites --profile ci-taskly -E 'binary(live) & (test(/^live::broken::/) | test(zz_teardown))'
fi
