#!/usr/bin/env bash
# The reference chatbot's image recipe, first half (kubegate.toml's
# `build.prepare`): cargo is the builder stage. It builds PACKAGE as a static
# musl executable and stages it into DIST, the only thing the component's
# .dockerignore admits; `docker build` of the context then packages it
# FROM scratch. No base image is pulled, so the same on every machine.
#
#   ci/images/stage-binary.sh PACKAGE DIST
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 PACKAGE DIST" >&2; exit 2; }
package="$1" dist="$2"
target=x86_64-unknown-linux-musl
cargo build --release --target "$target" -p "$package"
# Cargo's own answer for the target directory (CARGO_TARGET_DIR,
# .cargo/config.toml, or ./target).
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -E 's/.*"target_directory":"([^"]*)".*/\1/')"
mkdir -p "$dist"
# Copy under a temporary name, then rename: a concurrent `docker build`
# never reads half a binary.
cp "$target_dir/$target/release/$package" "$dist/$package.partial"
mv "$dist/$package.partial" "$dist/$package"
echo "staged $dist/$package"
