"""Gold action sequences, cached: generating one plays the task through inside the JVM (up
to ~40 s for mendelian genetics), and the result depends on what that JVM ran before (the
gold agent explores containers in an order that varies), so sequences are kept in memory
and in a folder (one small JSON file per task): reruns and resumed runs replay the same
path. The env generates; this module only remembers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.envs.base import EnvError
from lbi_icl.envs.scienceworld.table import _installed_version


class GoldPaths:
    """Memory + disk cache of gold paths, keyed by (task type, variation, simplifications)."""

    def __init__(self, folder: Path | None):
        self.folder = folder  # None: memory only
        self._memory: dict[tuple[str, int, str], list[str]] = {}
        self.generations = 0  # how many were generated (not read back)

    def file_for(self, task_name: str, var: int, simplifications: str) -> Path | None:
        if self.folder is None:
            return None
        simpl = simplifications.replace(",", "+") or "none"
        return self.folder / f"{task_name}__{var}__{simpl}.json"

    def forget_memory(self) -> None:
        """Drop the in-memory copies (as a new process starts): the next get reads disk."""
        self._memory.clear()

    def get(
        self,
        task_name: str,
        var: int,
        simplifications: str,
        generate: Callable[[], list[str]],
    ) -> list[str]:
        """The cached sequence, else `generate()`'s (saved unless it is the simulator's
        'ERROR…' answer)."""
        key = (task_name, var, simplifications)
        if key in self._memory:
            return list(self._memory[key])
        path = self.file_for(task_name, var, simplifications)
        if path is not None and path.exists():
            gold = _read(path)
            self._memory[key] = gold
            return list(gold)
        gold = [str(a) for a in generate()]
        self.generations += 1
        self._memory[key] = gold
        if path is not None and gold and not gold[0].startswith("ERROR"):
            record = {"task_id": f"{task_name}/{var}", "simplifications": simplifications}
            record |= {"scienceworld_version": _installed_version(), "actions": gold}
            atomic_write_text(path, json.dumps(record, indent=0) + "\n")
        return list(gold)


def _read(path: Path) -> list[str]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        gold = record["actions"]
        if not isinstance(gold, list) or not all(isinstance(a, str) for a in gold):
            raise ValueError("'actions' is not a list of strings")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise EnvError(f"{path}: bad gold-path cache file ({err}); delete it") from err
    return gold
