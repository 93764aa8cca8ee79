"""The three desktop environments (all `DesktopEnv`, one code path):

- `desktop`: the project's offline task set (`lbi desktop build-tasks`); without
  `tasks_dir=` the default set (seed 0) is built into the cache on first use.
- `osworld`: tasks from an OSWorld checkout (`tasks_dir=`), against a VM (`server=URL`)
  or on the local desktop for the tasks it can run (applications here, downloads in
  `file_cache=`); the rest are refused before the first episode.
- `spider2v`: tasks from a Spider2-V checkout; the local desktop runs its LibreOffice
  (`excel`) tasks and refuses the rest (Docker, cloud accounts, VS Code, ...);
  `instructions=verbose` uses `verbose_instruction.txt`; its pre-retrieved documentation
  chunks are the `Document`s of the `rag` baseline.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lbi_icl.data import Document, Task
from lbi_icl.envs.desktop.docs import app_documents
from lbi_icl.envs.desktop.env import DesktopEnv
from lbi_icl.envs.desktop.tasks import OSWorldTask, examples_root
from lbi_icl.util.cache_dir import cache_root


class DesktopTasksEnv(DesktopEnv):
    name = "desktop"

    def tasks(self, split: str) -> list[Task]:
        """Interleaved by family (every family's task 0, then every task 1, ...), so the
        first N tasks of a split cover min(N, families) families."""
        found = super().tasks(split)
        order = {t.id: i for i, t in enumerate(found)}

        def key(t: Task) -> tuple[int, int]:
            tail = t.id.rsplit("-", 1)[-1]
            return (int(tail) if tail.isdigit() else 0, order[t.id])

        return sorted(found, key=key)

    def default_tasks_dir(self) -> Path:
        from lbi_icl.envs.desktop.taskgen.build import FORMAT, build_taskset

        out = cache_root() / "desktop" / f"tasks-seed0-v{FORMAT}"
        build_taskset(out, seed=0)
        return out


class OSWorldEnv(DesktopEnv):
    name = "osworld"


_CHUNK = re.compile(
    r"Documentation Source:\s*\n(?P<src>.*?)\n\s*\nDocumentation Title:\s*\n(?P<title>.*?)\n"
    r"\s*\nDocumentation Content:\s*\n(?P<text>.*?)(?=\n\s*\n\s*\nDocumentation Source:|\Z)",
    re.DOTALL,
)


def parse_chunks(text: str) -> list[tuple[str, str, str]]:
    """(source, title, content) of a Spider2-V `retrieved_chunk_*.txt` file."""
    return [
        (m["src"].strip(), m["title"].strip(), m["text"].strip())
        for m in _CHUNK.finditer(text)
        if m["text"].strip()
    ]


class Spider2VEnv(DesktopEnv):
    name = "spider2v"

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.instructions not in ("plain", "verbose"):
            raise ValueError(f"instructions must be plain or verbose, not {self.instructions!r}")

    def instruction_of(self, task: OSWorldTask, path: Path) -> str:
        verbose = path.parent / "verbose_instruction.txt"
        if self.instructions == "verbose" and verbose.is_file():
            return verbose.read_text(encoding="utf-8").strip()
        return task.instruction

    def documents(self) -> list[Document]:
        """The documentation chunks shipped with the tasks (deduplicated by source and
        text), then the project's own LibreOffice guides."""
        docs: list[Document] = []
        seen: set[tuple[str, str]] = set()
        root = examples_root(self.tasks_dir) / "examples"
        for path in sorted(root.glob("*/*/retrieved_chunk*.txt")):
            for src, title, text in parse_chunks(path.read_text(encoding="utf-8")):
                key = (src, text)
                if key in seen:
                    continue
                seen.add(key)
                docs.append(
                    Document(
                        id=f"spider2v/doc/{len(docs):05d}",
                        env=self.name,
                        title=title,
                        text=text,
                        source={"url": src, "tool": path.parent.parent.name},
                    )
                )
        return docs + app_documents(self.name)
