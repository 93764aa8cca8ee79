#!/usr/bin/env bash
# Desktop agents (docs/desktop.md): the local desktop and OSWorld's evaluators.
#   1. Debian packages: Xvfb, D-Bus/AT-SPI, openbox, LibreOffice Calc/Writer/Impress with the
#      GTK3 plug-in (its accessibility tree), wmctrl/xdotool/scrot, python3-pyatspi/-tk/-xlib;
#   2. the desktop's own Python (/opt/lbi-desktop, the system python3 with its site packages
#      for pyatspi) with pyautogui: the applications' side never imports the project's venv;
#   3. the system user `lbi-desktop` that runs the applications and the server (never root);
#   4. OSWorld's evaluators into the CURRENT venv: desktop-env --no-deps (it pins torch~=2.5,
#      numpy<2 and ~68 packages) plus only what the metric/getter modules the env loads
#      import, constrained to every version already installed, and a check that no installed
#      package changed (like setup-webarena.sh).
# Idempotent and quiet: exits at once when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
DESKTOP_PY=/opt/lbi-desktop
APT=(xvfb xauth dbus at-spi2-core openbox wmctrl xdotool scrot python3-tk python3-pyatspi
    python3-xlib python3-venv libreoffice-calc libreoffice-writer libreoffice-impress
    libreoffice-gtk3 fonts-dejavu-core)
DESKTOP_PIP=(pyautogui==0.9.54 pymsgbox==2.0.1 pytweening==1.2.0 pyscreeze==1.0.1
    pygetwindow==0.0.9 pyrect==0.2.0 mouseinfo==0.1.3 pyperclip==1.11.0 python3-xlib==0.15)
# What the loaded evaluator modules import (metrics: table, general, docs, slides, utils;
# getters: file, general, misc, info, calc, impress), pinned to what was measured to work;
# rapidfuzz unpinned: setup-webarena.sh (thefuzz) may have installed it already.
WITH_DEPS=(openpyxl==3.1.5 pandas==3.1.1 rapidfuzz formulas==1.3.4 tldextract==5.4.0
    xmltodict==1.0.4 cssselect==1.6.0 python-docx==1.2.0 odfpy==1.4.1 python-pptx==1.0.2
    pdfplumber==0.11.11 pytz==2026.6 requests==2.34.2)
NO_DEPS=(desktop-env==1.0.2)

installed() {
    "$PY" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    try:
        if version(name) != (want or version(name)):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
}

start=$(date +%s)
if ! command -v soffice >/dev/null || ! command -v Xvfb >/dev/null || ! command -v scrot >/dev/null \
    || ! /usr/bin/python3 -c "import pyatspi, tkinter" 2>/dev/null \
    || [ ! -e /usr/lib/libreoffice/program/libvclplug_gtk3lo.so ]; then
    for attempt in 1 2 3 4 5 6; do
        # another setup script may hold the dpkg lock: wait for it and retry
        if apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${APT[@]}" >/dev/null; then
            break
        fi
        echo "apt-get install (desktop) failed (attempt $attempt), retrying in 20 s" >&2
        sleep 20
    done
fi
if [ ! -x "$DESKTOP_PY/bin/python" ] || ! "$DESKTOP_PY/bin/python" -c \
    "import importlib.util as u, sys; sys.exit(not (u.find_spec('pyautogui') and u.find_spec('pyatspi')))"; then
    rm -rf "$DESKTOP_PY"
    # the system python3 (not a pyenv/venv one on PATH): its site packages hold pyatspi
    /usr/bin/python3 -m venv --system-site-packages "$DESKTOP_PY"
    "$DESKTOP_PY/bin/pip" install -q --disable-pip-version-check "${DESKTOP_PIP[@]}" 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$DESKTOP_PY/bin/python" -c "import importlib.util as u, sys; sys.exit(not u.find_spec('pyautogui'))"
fi
id lbi-desktop >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin lbi-desktop

if ! installed "${WITH_DEPS[@]}" "${NO_DEPS[@]}"; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$PY" -m pip freeze --exclude-editable | grep -v ' @ ' > "$tmp/before.txt"
    "$PY" -m pip install -q -c constraints-cpu.txt -c "$tmp/before.txt" "${WITH_DEPS[@]}" 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$PY" -m pip install -q --no-deps "${NO_DEPS[@]}" 2>&1 | grep -v "^WARNING: Location" || true
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
    sys.exit("setup-desktop changed installed packages: " + "; ".join(changed))
EOF
    installed "${WITH_DEPS[@]}" "${NO_DEPS[@]}"
fi
soffice --version | head -1
echo "desktop: ready in $(( $(date +%s) - start )) s"
