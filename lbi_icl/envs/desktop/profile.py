"""The HOME every episode starts from: a LibreOffice profile with its first-run dialogs, tip
of the day, "what's new" bar, foreign-format warning on save, autosave and crash recovery
turned off. Written once into the cache (temp folder + rename), copied per session."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from lbi_icl.util.cache_dir import cache_root

# (configuration path, property, type, value)
SETTINGS: list[tuple[str, str, str, str]] = [
    ("/org.openoffice.Office.Common/Misc", "ShowTipOfTheDay", "xs:boolean", "false"),
    ("/org.openoffice.Office.Common/Misc", "FirstRun", "xs:boolean", "false"),
    ("/org.openoffice.Office.Common/Misc", "UseSystemFileDialog", "xs:boolean", "false"),
    ("/org.openoffice.Office.Common/Misc", "ShowDonation", "xs:boolean", "false"),
    ("/org.openoffice.Office.Common/Save/Document", "WarnAlienFormat", "xs:boolean", "false"),
    ("/org.openoffice.Office.Common/Save/Document", "AutoSave", "xs:boolean", "false"),
    ("/org.openoffice.Office.Common/Save/Document", "CreateBackup", "xs:boolean", "false"),
    ("/org.openoffice.Office.Recovery/AutoSave", "Enabled", "xs:boolean", "false"),
    ("/org.openoffice.Office.Recovery/RecoveryInfo", "Enabled", "xs:boolean", "false"),
    ("/org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "xs:int", "3"),
    ("/org.openoffice.Setup/Office", "ooSetupInstCompleted", "xs:boolean", "true"),
    ("/org.openoffice.Setup/Product", "ooSetupLastVersion", "xs:string", "99.0"),
    ("/org.openoffice.Setup/Product", "LastTimeGetInvolvedShown", "xs:long", "4102444800"),
    ("/org.openoffice.Setup/Product", "LastTimeDonateShown", "xs:long", "4102444800"),
    ("/org.openoffice.Office.Common/Misc", "ShowLinkWarningDialog", "xs:boolean", "false"),
    ("/org.openoffice.Office.Calc/Input", "AutoInput", "xs:boolean", "false"),
    ("/org.openoffice.Office.Common/AutoCorrect", "ReplaceText", "xs:boolean", "false"),
    ("/org.openoffice.Office.Writer/AutoFunction/Completion", "Enable", "xs:boolean", "false"),
]


def registry_xcu() -> str:
    items = []
    for path, prop, kind, value in SETTINGS:
        if not prop:
            continue
        items.append(
            f'<item oor:path="{path}"><prop oor:name="{prop}" oor:op="fuse" oor:type="{kind}">'
            f"<value>{value}</value></prop></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        + "\n".join(items)
        + "\n</oor:items>\n"
    )


def home_template() -> Path:
    """The template HOME folder (made on first use, shared by every session)."""
    text = registry_xcu()
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    root = cache_root() / "desktop"
    target = root / f"home-{digest}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".home-", dir=root))
    user = tmp / ".config" / "libreoffice" / "4" / "user"
    user.mkdir(parents=True)
    (user / "registrymodifications.xcu").write_text(text, encoding="utf-8")
    for d in ("Desktop", "Documents", "Downloads"):
        (tmp / d).mkdir()
    os.chmod(tmp, 0o755)
    try:
        os.rename(tmp, target)
    except OSError:  # another process made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
