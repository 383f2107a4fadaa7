#!/usr/bin/env bash
# Installs what hpcdl needs on a fresh machine, then builds it.
#   scripts/setup.sh           npm packages + build (enough for the demo)
#   scripts/setup.sh --system  also the Debian packages the test suite runs for real
set -euo pipefail
cd "$(dirname "$0")/.."

install_debian_packages() {
  local wanted missing=()
  wanted=$(cat scripts/apt-packages.d/*.txt | sed 's/#.*//' | tr -s ' \n' '\n' | sort -u)
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "hpcdl setup: installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_npm_packages() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "hpcdl setup: npm ci"
    npm ci --no-audit --no-fund
  fi
}

[ "${1:-}" = "--system" ] && install_debian_packages
install_npm_packages
echo "hpcdl setup: building"
npm run --silent build
