#!/usr/bin/env bash
# OSP Jam's test command (README "Test it"; .ci/run calls it).
#
# Builds what the integration tests load (cargo does not build a dependency's cdylib for them):
# the debug plugin bundles, whose process() aborts on any allocation, the standalone and the room
# server; then runs every test in the workspace with nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# A leftover standalone or room server from an older build must not be tested in place of this one.
rm -f "${CARGO_TARGET_DIR:-target}/bundled/osp-jam" "${CARGO_TARGET_DIR:-target}/bundled/osp-relay"
cargo xtask bundle plugin
cargo nextest run --workspace --profile "${NEXTEST_PROFILE:-default}" "$@"
