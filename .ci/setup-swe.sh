#!/usr/bin/env bash
# The swe environment's sandbox (docs/swe.md "Threat model"): bubblewrap from Debian, and
# setpriv (util-linux, part of every Debian). Idempotent: does nothing when bwrap is there.
set -euo pipefail
if ! command -v bwrap >/dev/null 2>&1; then
    for attempt in 1 2 3 4 5 6; do
        # another setup script may hold the dpkg lock: wait for it and retry
        if apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends bubblewrap; then
            break
        fi
        echo "apt-get install bubblewrap failed (attempt $attempt), retrying in 20 s" >&2
        sleep 20
    done
fi
bwrap --version
command -v setpriv
