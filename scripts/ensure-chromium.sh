#!/usr/bin/env bash
# Make sure Debian's chromium and chromium-driver are installed, for the browser tests
# (widget and agent console), and a Chinese font so that screenshots show Chinese text.
# A no-op when all are present.
set -euo pipefail

has_browser() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }
has_cjk_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }
if has_browser && has_cjk_font; then
    exit 0
fi
cannot_install() {  # A missing font alone is not fatal: screenshots then show boxes.
    if has_browser; then
        echo "warning: no Chinese font for screenshots; $1 fonts-wqy-microhei" >&2
        exit 0
    fi
    echo "chromium and chromedriver are missing; $1 chromium chromium-driver fonts-wqy-microhei" >&2
    exit 1
}
if ! command -v apt-get >/dev/null; then
    cannot_install "there is no apt-get here: install the equivalent of"
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        SUDO="sudo"
    else
        cannot_install "installing needs root: as root, apt-get install"
    fi
fi
echo "==> installing chromium, chromium-driver and a Chinese font (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver \
    fonts-wqy-microhei >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
echo "==> $(chromium --version 2>/dev/null | head -1)"
