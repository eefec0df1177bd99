#!/usr/bin/env bash
# Installs everything stocktune and its tests need on a fresh Debian machine (run as root).
# Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_pkgs+=(postgresql)
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${apt_pkgs[@]}"
fi

python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e '.[test]'
