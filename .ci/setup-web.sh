#!/usr/bin/env bash
# Web agents (README "Web agents"): BrowserGym drives Debian's Chromium; Playwright's own
# browser download is not used. Idempotent: does nothing when a chromium is on PATH.
# Measured on the 2-core dev box (loaded): ~3.5 min for apt-get update + install.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${LBI_CHROMIUM:-}" ]; then
    exit 0
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
chromium --version
