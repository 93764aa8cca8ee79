"""The layout rules of `lbi_icl/` (docs/ARCHITECTURE.md): small files, a module map that names
every module, and no import cycles (between modules, and between the top-level parts whose
names tell the data flow: `embed/`, `index/`, `retrieval/`, `runner/`, ...).

Read from the source with `ast` (nothing is imported), so the checks are fast and see the
lazy imports inside functions and the `if TYPE_CHECKING:` ones too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "lbi_icl"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
MAX_LINES = 500


def module_files(pkg: Path = PKG) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `pkg` (packages by __init__)."""
    out: dict[str, Path] = {}
    for path in sorted(pkg.rglob("*.py")):
        parts = list(path.relative_to(pkg.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _statements(body: list[ast.stmt], lazy: bool, typing: bool = False) -> Iterator[ast.stmt]:
    """Import statements that run: the module body with its if / try / with blocks, and with
    `lazy` also those inside functions and classes; `if TYPE_CHECKING:` blocks only with
    `typing`."""
    for node in body:
        if _is_type_checking(node) and not typing:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if not lazy and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                nested = [c for c in children if isinstance(c, ast.stmt)]
                for c in children:
                    if isinstance(c, ast.ExceptHandler | ast.match_case):
                        nested += c.body
                yield from _statements(nested, lazy, typing)


def imports_of(
    name: str, path: Path, modules: dict[str, Path], *, lazy: bool, typing: bool = False
) -> set[str]:
    """The lbi_icl modules that importing (`lazy`: or running; `typing`: or type-checking)
    `name` imports: each named module and the packages above it that are not also above
    `name` (Python runs their `__init__` first); `from P import m` counts the submodule
    `P.m`, not `P`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8")).body, lazy, typing):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
            continue
        base = node.module or ""
        if node.level:
            up = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*up, base] if base else up)
        subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
        targets.update(subs)
        if len(subs) < len(node.names):
            targets.add(base)
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
    found: set[str] = set()
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            mod = ".".join(parts[:i])
            if mod in modules and mod not in own:
                found.add(mod)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def module_graph(pkg: Path = PKG, *, lazy: bool, typing: bool = False) -> dict[str, set[str]]:
    modules = module_files(pkg)
    return {
        name: imports_of(name, path, modules, lazy=lazy, typing=typing)
        for name, path in modules.items()
    }


def part_of(module: str) -> str:
    """The top-level part a module belongs to: `lbi_icl.index.bm25.score` -> `lbi_icl.index`."""
    return ".".join(module.split(".")[:2])


def part_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    """Top-level parts of lbi_icl and which parts each imports, lazy and TYPE_CHECKING
    imports included."""
    graph: dict[str, set[str]] = {}
    for name, targets in module_graph(pkg, lazy=True, typing=True).items():
        src = part_of(name)
        graph.setdefault(src, set()).update(
            part_of(t) for t in targets if part_of(t) not in (src, "lbi_icl")
        )
    return graph


# ------------------------------------------------------------------------------ the checks


def test_no_file_in_lbi_icl_exceeds_500_lines() -> None:
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in sorted(PKG.rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these files (more than {MAX_LINES} lines): {too_long}"


def test_no_import_cycle_between_modules() -> None:
    """Top-level imports only (what runs on `import`): a cycle here is an import-order bug."""
    cycle = find_cycle(module_graph(lazy=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_cycle_between_modules_counting_every_import() -> None:
    """Imports inside functions and under `if TYPE_CHECKING:` too: a cycle that only a lazy
    import keeps from failing still ties the two modules into one."""
    cycle = find_cycle(module_graph(lazy=True, typing=True))
    assert cycle is None, "import cycle (lazy or typing imports): " + " -> ".join(cycle or [])


def test_no_import_cycle_between_top_level_parts() -> None:
    """Counting lazy imports too: `embed/` must not reach into `index/` while `index/`
    imports `embed/`, or the folders stop telling the data flow."""
    cycle = find_cycle(part_graph())
    assert cycle is None, "cycle between parts of lbi_icl: " + " -> ".join(cycle or [])


def _architecture_rows(text: str) -> dict[str, str]:
    """First cell (a path under lbi_icl/) -> the whole row, for the module table."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`(lbi_icl/[^`]*)`\s*\|", line)
        if m:
            rows[m.group(1)] = line
    return rows


def undocumented_modules(pkg: Path = PKG, doc: Path = ARCHITECTURE) -> list[str]:
    """Modules the module table does not name. A module is named by its own row
    (`lbi_icl/x.py`), or in the row of the nearest package above it that has one, which
    must name it as `` `file.py` `` and every folder between as `` `folder/` ``."""
    text = doc.read_text(encoding="utf-8")
    rows = _architecture_rows(text)
    missing = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg.parent).as_posix()
        if rel in rows:
            continue
        parts = rel.split("/")
        is_init = parts[-1] == "__init__.py"
        named = False
        for depth in range(len(parts) - 1, 0, -1):
            key = "/".join(parts[:depth]) + "/"
            if key not in rows:
                continue
            row = rows[key]
            between = parts[depth:-1]
            want = [f"`{d}/`" for d in between]
            if not is_init:
                want.append(f"`{parts[-1]}`")
            named = all(w in row for w in want)
            break
        if not named:
            missing.append(rel)
    return missing


def test_architecture_names_every_module() -> None:
    missing = undocumented_modules()
    assert not missing, f"docs/ARCHITECTURE.md does not name these modules: {missing}"


def architecture_layers(text: str) -> list[list[str]]:
    """The parts on each line of the `## Layers` block, top line first: `x/` is the part
    `lbi_icl.x`, `x.py` the root module `lbi_icl.x` (`__init__.py`: `lbi_icl`); names end
    where two spaces start the line's description."""
    section = text.split("## Layers", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    out = []
    for line in block.splitlines():
        names = line.split("  ", 1)[0].split()
        out.append(
            [
                "lbi_icl"
                if n == "__init__.py"
                else "lbi_icl." + n.removesuffix("/").removesuffix(".py")
                for n in names
            ]
        )
    return out


def layer_violations(graph: dict[str, set[str]], layers: list[list[str]]) -> list[str]:
    """Where the part graph breaks the documented layers: a part that imports a part on
    its own line or above it, and parts the block leaves out or names but do not exist."""
    level = {part: len(layers) - i for i, line in enumerate(layers) for part in line}
    out = [f"{p}: not in the Layers block" for p in sorted(set(graph) - set(level))]
    out += [f"{p}: no such part" for p in sorted(set(level) - set(graph))]
    for part, targets in sorted(graph.items()):
        for t in sorted(targets):
            if part in level and t in level and level[t] >= level[part]:
                out.append(f"{part} imports {t}, which is not below it")
    return out


def test_architecture_layers_match_the_import_graph() -> None:
    """The Layers picture is the part graph: each line imports only lines below it."""
    layers = architecture_layers(ARCHITECTURE.read_text(encoding="utf-8"))
    bad = layer_violations(part_graph(), layers)
    assert not bad, "docs/ARCHITECTURE.md, ## Layers: " + "; ".join(bad)


# ------------------------------------------------------------- the checks catch what they claim


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "lbi_icl"


def test_part_graph_sees_a_lazy_import_cycle(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path,
        {
            "lbi_icl/__init__.py": "",
            "lbi_icl/embed.py": "def f():\n    from lbi_icl.index.tokenize import tokenize\n",
            "lbi_icl/index/__init__.py": "",
            "lbi_icl/index/tokenize.py": "",
            "lbi_icl/index/build.py": "from lbi_icl.embed import f\n",
        },
    )
    assert find_cycle(module_graph(pkg, lazy=False)) is None  # no cycle on import ...
    cycle = find_cycle(part_graph(pkg))  # ... but the parts depend on each other
    assert cycle is not None and set(cycle) == {"lbi_icl.embed", "lbi_icl.index"}


def test_module_graph_rules(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path,
        {
            "lbi_icl/__init__.py": "",
            "lbi_icl/a.py": "from lbi_icl.b import x\n",
            "lbi_icl/b.py": "from lbi_icl import a\n",
            # a package importing its submodules, which import siblings: not a cycle
            "lbi_icl/p/__init__.py": "from lbi_icl.p.m import y\n",
            "lbi_icl/p/m.py": "from lbi_icl.p import n\nfrom typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from lbi_icl.p import q\n",
            "lbi_icl/p/n.py": "y = 1\n",
            "lbi_icl/p/q.py": "from lbi_icl.p.m import y\n",
        },
    )
    graph = module_graph(pkg, lazy=False)
    assert graph["lbi_icl.p.m"] == {"lbi_icl.p.n"}  # TYPE_CHECKING imports do not count ...
    cycle = find_cycle(graph)
    assert cycle is not None and set(cycle) == {"lbi_icl.a", "lbi_icl.b"}
    typed = module_graph(pkg, lazy=True, typing=True)  # ... unless asked for
    assert typed["lbi_icl.p.m"] == {"lbi_icl.p.n", "lbi_icl.p.q"}
    del typed["lbi_icl.a"]
    cycle = find_cycle(typed)
    assert cycle is not None and set(cycle) == {"lbi_icl.p.m", "lbi_icl.p.q"}


def test_architecture_check_finds_an_unnamed_module(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path,
        {
            "lbi_icl/__init__.py": "",
            "lbi_icl/data.py": "",
            "lbi_icl/index/__init__.py": "",
            "lbi_icl/index/build.py": "",
            "lbi_icl/index/dense.py": "",
            "lbi_icl/index/bm25/__init__.py": "",
            "lbi_icl/index/bm25/score.py": "",
        },
    )
    doc = tmp_path / "ARCHITECTURE.md"
    doc.write_text(
        "| module | job |\n|---|---|\n| `lbi_icl/data.py` | models |\n"
        "| `lbi_icl/index/` | `build.py` (build), `bm25/` (`score.py`) |\n",
        encoding="utf-8",
    )
    assert undocumented_modules(pkg, doc) == ["lbi_icl/__init__.py", "lbi_icl/index/dense.py"]


def test_layer_check_finds_an_upward_import() -> None:
    block = "runner/  runs\nindex/ embed/  indexes, vectors\nutil/  helpers\n"
    text = f"## Layers\n\n```text\n{block}```\n"
    layers = architecture_layers(text)
    assert layers == [["lbi_icl.runner"], ["lbi_icl.index", "lbi_icl.embed"], ["lbi_icl.util"]]
    graph = {
        "lbi_icl.runner": {"lbi_icl.index"},
        "lbi_icl.index": {"lbi_icl.embed", "lbi_icl.util"},  # same line: not below
        "lbi_icl.embed": {"lbi_icl.util"},
        "lbi_icl.util": set(),
        "lbi_icl.view": {"lbi_icl.runner"},
    }
    assert layer_violations(graph, layers) == [
        "lbi_icl.view: not in the Layers block",
        "lbi_icl.index imports lbi_icl.embed, which is not below it",
    ]


def test_architecture_names_no_missing_file() -> None:
    """Every `lbi_icl/...` path the document spells out exists (no stale rows)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    paths = set(re.findall(r"`(lbi_icl/[\w/.]+)`", text))
    stale = sorted(p for p in paths if not (ROOT / p).exists())
    assert not stale, f"docs/ARCHITECTURE.md names files that do not exist: {stale}"
