"""Separate the failing tests from the fix, as SWE-bench does: at the buggy commit the
FAIL_TO_PASS test functions are absent, and the instance's `test_patch` adds them back.

`remove_tests` deletes each failing test's whole definition (decorators and the comment
lines right above it included, and the blank lines after it) from its file; a class left
without statements goes too, and a test file left without tests is deleted. The rest of
each file is kept byte for byte. A test whose definition is not in its own file (inherited
from a class in another module) cannot be separated this way: the candidate is refused.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")
Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


class NotSeparable(ValueError):
    """A failing test cannot be removed from its file."""


@dataclass(frozen=True)
class NodeRef:
    file: str
    classes: tuple[str, ...]
    name: str  # the function, without a parametrization id


def parse_node(node: str) -> NodeRef:
    """`file::Class::test[param]` (a parametrization id may itself hold `::`)."""
    parts = node.split("[", 1)[0].split("::")
    return NodeRef(parts[0], tuple(parts[1:-1]), parts[-1])


def _classes(body: list[ast.stmt]) -> dict[str, ast.ClassDef]:
    return {s.name: s for s in body if isinstance(s, ast.ClassDef)}


def _method(
    cls: ast.ClassDef, name: str, module: dict[str, ast.ClassDef], seen: set[str]
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef] | None:
    """The definition of `name` in `cls` or, depth first, in its bases defined in the same
    module (a mixin): returns (the function, the class that defines it) or None."""
    for st in cls.body:
        if isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef) and st.name == name:
            return st, cls
    seen.add(cls.name)
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in module and base.id not in seen:
            found = _method(module[base.id], name, module, seen)
            if found is not None:
                return found
    return None


Found = tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]


def find_test(tree: ast.Module, ref: NodeRef) -> Found:
    """The test function of `ref` in its module and the class that holds it (None for a
    module-level function). Raises `NotSeparable` when it is not defined in this file."""
    if not ref.classes:
        for st in tree.body:
            if isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef) and st.name == ref.name:
                return st, None
        raise NotSeparable(f"{ref.file}: no function {ref.name}")
    body = tree.body
    cls: ast.ClassDef | None = None
    for name in ref.classes:
        cls = _classes(body).get(name)
        if cls is None:
            raise NotSeparable(f"{ref.file}: no class {'::'.join(ref.classes)}")
        body = cls.body
    assert cls is not None
    module = _classes(tree.body) if len(ref.classes) == 1 else _classes(body)
    found = _method(cls, ref.name, module, set())
    if found is None:
        raise NotSeparable(f"{ref.file}: {ref.name} is not defined in this file")
    return found


def _has_tests(tree: ast.Module, removed: set[int]) -> bool:
    for st in tree.body:
        if id(st) in removed:
            continue
        if isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef) and st.name.startswith("test"):
            return True
        if isinstance(st, ast.ClassDef):
            for sub in ast.walk(st):
                if (
                    isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef)
                    and sub.name.startswith("test")
                    and id(sub) not in removed
                ):
                    return True
    return False


def _empty_after(cls: ast.ClassDef, removed: set[int]) -> bool:
    left = [s for s in cls.body if id(s) not in removed]
    return all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in left
    )


def _named_elsewhere(tree: ast.Module, name: str, gone: set[int]) -> bool:
    """Whether code that stays refers to `name`."""
    return any(
        isinstance(n, ast.Name) and n.id == name and id(n) not in gone for n in ast.walk(tree)
    )


def _span(lines: list[str], node: Def) -> tuple[int, int]:
    """0-based [first, last] lines of a definition with its decorators and the comment
    lines right above it."""
    first = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    while first > 0 and lines[first - 1].startswith(indent + "#"):
        first -= 1
    return first, (node.end_lineno or node.lineno) - 1


def remove_tests(text: str, file: str, nodes: list[str]) -> str | None:
    """`text` without the tests `nodes` (pytest ids in this file); None when the file is
    left without tests and should be deleted."""
    tree = ast.parse(text)
    removed: set[int] = set()
    owners: dict[int, ast.ClassDef] = {}
    targets: list[Def] = []
    for node in nodes:
        fn, cls = find_test(tree, parse_node(node))
        if id(fn) not in removed:
            removed.add(id(fn))
            targets.append(fn)
        if cls is not None:
            owners[id(cls)] = cls
    changed = True
    while changed:  # a class left empty goes too (and may empty its enclosing class)
        changed = False
        for cls in [c for c in ast.walk(tree) if isinstance(c, ast.ClassDef)]:
            if id(cls) in removed or not any(id(s) in removed for s in cls.body):
                continue
            if _empty_after(cls, removed):
                removed.add(id(cls))
                targets.append(cls)
                changed = True
    gone = {id(n) for t in targets for n in ast.walk(t)}
    for cls in targets:
        if isinstance(cls, ast.ClassDef) and _named_elsewhere(tree, cls.name, gone):
            raise NotSeparable(f"{file}: class {cls.name} would be emptied but is used")
    if _TEST_FILE.search(file) and not _has_tests(tree, removed):
        return None
    lines = text.splitlines(keepends=True)
    drop = [False] * len(lines)
    for node in targets:
        first, last = _span(lines, node)
        for i in range(first, last + 1):
            drop[i] = True
    # the blank lines before each removed block go with it (after it, when none precede
    # it: a class's first method), so the spacing of what remains is the file's own
    i = 0
    while i < len(lines):
        if not drop[i]:
            i += 1
            continue
        j = i
        while j < len(lines) and drop[j]:
            j += 1
        t = i - 1
        while t >= 0 and not lines[t].strip() and not drop[t]:
            t -= 1
        if t < i - 1:
            for k in range(t + 1, i):
                drop[k] = True
        else:
            k = j
            while k < len(lines) and not lines[k].strip():
                drop[k] = True
                k += 1
        i = j
    out = "".join(line for line, d in zip(lines, drop, strict=True) if not d)
    try:
        ast.parse(out)
    except SyntaxError as e:
        raise NotSeparable(f"{file}: removing the tests breaks the file ({e})") from e
    return out


def split_tests(texts: dict[str, str], failing: list[str]) -> dict[str, str | None]:
    """The buggy commit's version of each test file that holds a failing test (None: the
    file is deleted there). Raises `NotSeparable`."""
    by_file: dict[str, list[str]] = {}
    for node in failing:
        by_file.setdefault(node.split("::", 1)[0], []).append(node)
    out: dict[str, str | None] = {}
    for file, nodes in sorted(by_file.items()):
        if file not in texts:
            raise NotSeparable(f"{file}: not a test file of the project")
        try:
            out[file] = remove_tests(texts[file], file, nodes)
        except SyntaxError as e:
            raise NotSeparable(f"{file}: {e}") from e
    return out
