#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is at /usr/bin/chromium (used by apps/demo-api's dashboard
# test through playwright-core). Installs it from Debian's packages when absent; never downloads a browser
# build of its own.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "[chromium] present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi

echo "[chromium] installing from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
[ -x /usr/bin/chromium ] || { echo "[chromium] /usr/bin/chromium missing after install" >&2; exit 1; }
echo "[chromium] installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
