#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the real components, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
# the dependency rules (.dependency-cruiser.cjs) first: a break fails with the rule's name
npm run --silent lint:deps
# the committed batch scripts match the notebooks and configs (make_scripts --check names a stale one)
node --import tsx make_scripts.ts --check
node scripts/run-tests.mjs "$@"
