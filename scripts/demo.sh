#!/usr/bin/env bash
# The main job on the embedded default: installs npm packages, builds, runs `hpcdl demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/cli/index.js demo "$@"
