#!/usr/bin/env bash
# The habits CI gates on, before any test runs: the workspace is formatted
# (rustfmt.toml) and clippy, with the lints of [workspace.lints] in
# Cargo.toml, has nothing to say. Run it before pushing; ci/test.sh runs it first.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "ci/lint.sh: $1" >&2
  exit 1
}

echo "==> lint: cargo fmt --check"
cargo fmt --all --check || fail "the files above are not formatted: run \`cargo fmt\` and commit the result"

echo "==> lint: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings ||
  fail "clippy found the problems above: fix them (\`cargo clippy --fix\` does many) before the tests run"
echo "    ok: formatted, clippy clean"
