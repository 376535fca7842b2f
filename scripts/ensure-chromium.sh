#!/usr/bin/env bash
# Make sure Debian's chromium and chromium-driver are installed, for the browser tests
# (widget and agent console). A no-op when both are on PATH.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "chromium and chromedriver are missing and there is no apt-get to install them." >&2
    echo "Install Chromium and its matching chromedriver, then run this again." >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        SUDO="sudo"
    else
        echo "Installing chromium needs root: run 'apt-get install chromium chromium-driver' as root." >&2
        exit 1
    fi
fi
echo "==> installing chromium and chromium-driver (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
echo "==> $(chromium --version 2>/dev/null | head -1)"
