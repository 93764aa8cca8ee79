"""What a mutation is and the AST walk that finds them, shared by the one-line kinds
(`mutate.py`) and the block kinds (`blocks.py`): `Mutation` (one byte span of a file
replaced, the rest kept byte for byte), `Source` (AST positions as UTF-8 byte offsets) and
`Collector` (the walk: qualified name of the enclosing function, `keep`, `add`). Below both
finders, so `mutate.find_mutations` can use both without an import cycle.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True, eq=False)
class Mutation:
    file: str  # path relative to the project root
    function: str  # qualified name of the enclosing function
    kind: str
    line: int  # 1-based first line of the change
    description: str
    start: int  # byte span of the original file that is replaced
    end: int
    new: str  # the replacement text
    source: str = field(repr=False)  # the original file (shared, not copied)
    scope: tuple[int, int] = (0, 0)  # byte span of the enclosing function (for checks)

    @cached_property
    def mutated(self) -> str:
        """The whole file after the change."""
        data = self.source.encode("utf-8")
        return (data[: self.start] + self.new.encode("utf-8") + data[self.end :]).decode("utf-8")

    @cached_property
    def key(self) -> str:
        blob = f"{self.file}\x1f{self.function}\x1f{self.kind}\x1f{self.line}\x1f{self.mutated}"
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mutation):
            return NotImplemented
        return (self.file, self.start, self.end, self.new, self.kind, self.source) == (
            other.file,
            other.start,
            other.end,
            other.new,
            other.kind,
            other.source,
        )

    def __hash__(self) -> int:
        return hash((self.file, self.start, self.end, self.new, self.kind))

    def parses(self) -> bool:
        """Whether the mutated enclosing function still parses (cheap: the function alone;
        an indented one is parsed under `if 1:`)."""
        data = self.source.encode("utf-8")
        a, b = self.scope if self.scope != (0, 0) else (0, len(data))
        if not a <= self.start <= self.end <= b:
            a, b = 0, len(data)
        text = (data[a : self.start] + self.new.encode("utf-8") + data[self.end : b]).decode(
            "utf-8"
        )
        if text[:1] in (" ", "\t"):
            text = "if 1:\n" + text
        try:
            ast.parse(text)
        except SyntaxError:
            return False
        return True


class Source:
    """Byte offsets for AST positions (col_offset is in UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.str = text
        self.data = text.encode("utf-8")
        self.starts = [0]
        for i, b in enumerate(self.data):
            if b == 0x0A:
                self.starts.append(i + 1)

    def off(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col

    def start(self, node: ast.AST) -> int:
        return self.off(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.off(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def text(self, a: int, b: int) -> str:
        return self.data[a:b].decode("utf-8")

    def line_start(self, line: int) -> int:
        return self.starts[line - 1]

    def line_end(self, line: int) -> int:
        """Offset just past the newline of `line` (or the end of the data)."""
        return self.starts[line] if line < len(self.starts) else len(self.data)

    def line_text(self, line: int) -> str:
        return self.text(self.line_start(line), self.line_end(line))

    def alone_on_lines(self, node: ast.stmt) -> bool:
        """Nothing but indentation before the node and nothing after it on its lines."""
        before = self.text(self.line_start(node.lineno), self.start(node))
        after = self.text(self.end(node), self.line_end(node.end_lineno or node.lineno))
        return not before.strip() and (not after.strip() or after.lstrip().startswith("#"))


Keep = Callable[[str], bool]


class Collector(ast.NodeVisitor):
    """Walks a module keeping the qualified name of the enclosing scopes; `add` records a
    mutation when inside a function that `keep` accepts."""

    def __init__(self, rel: str, text: str, keep: Keep | None = None) -> None:
        self.rel, self.src = rel, Source(text)
        self.stack: list[str] = []
        self.scopes: list[tuple[int, int]] = []
        self.out: list[Mutation] = []
        self.keep = keep

    def add(self, node: ast.AST, kind: str, a: int, b: int, new: str, desc: str) -> None:
        if not self.scopes:
            return
        del node  # the position comes from the span
        line = self.src.data.count(b"\n", 0, a) + 1
        self.out.append(
            Mutation(
                self.rel,
                ".".join(self.stack),
                kind,
                line,
                desc,
                a,
                b,
                new,
                self.src.str,
                self.scopes[-1],
            )
        )

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        active = self.keep is None or self.keep(".".join(self.stack))
        if active:
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            end = node.end_lineno or node.lineno
            self.scopes.append((self.src.line_start(first), self.src.line_end(end)))
            self.function(node)
            for child in node.body:
                self.visit(child)
            self.scopes.pop()
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """Hook: mutations of the function node itself."""
