#!/usr/bin/env bash
# The run viewer's browser test (tests/test_view_browser.py) drives Debian's Chromium
# through playwright (pip, in the `view` extra; playwright's own browser download is not
# used). Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    for attempt in 1 2 3 4 5 6; do
        # another setup script may hold the dpkg lock: wait for it and retry
        if apt-get update -q && apt-get install -y -q --no-install-recommends chromium; then
            break
        fi
        echo "apt-get install chromium failed (attempt $attempt), retrying in 20 s" >&2
        sleep 20
    done
fi
/usr/bin/chromium --version
