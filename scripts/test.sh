#!/usr/bin/env bash
# The whole test suite: installs Prosody, Chromium and the npm packages when missing, checks
# formatting and lints, then runs unit, integration (real Prosody, real HTTP servers) and
# end-to-end tests (lib-jitsi-meet in headless Chromium), then fuzzes every fuzz target briefly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-deps.sh"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee target/test-output.txt
# Every fuzz target for 15 s from its seeds (fuzz/README.md); non-zero on any crash.
bash scripts/fuzz.sh 15
