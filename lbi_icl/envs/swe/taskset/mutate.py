"""AST-based bug-introducing transformations (in the spirit of SWE-smith's procedural
bugs). The AST only says *where*; each mutation replaces one byte span of the file's text
and keeps everything outside it byte for byte (comments, formatting).

One-line kinds: `compare_swap` (`<`→`<=`, `==`→`!=`, `in`→`not in`, ...), `binop_swap`
(`+`↔`-`, `//`↔`%`, `<<`↔`>>`, `&`↔`|`), `boolop_swap` (`and`↔`or`), `off_by_one` (an
integer literal in a comparison, index, slice or `range` call ± 1), `negate_condition`
(`if c` → `if not (c)`), `drop_not` (`not x` → `x`), `wrong_default` (a literal default
argument changed), `return_swap` (`return True` ↔ `return False`).

Block kinds (whole lines removed; see `blocks.py`): `drop_branch` (an `if` without `else`),
`drop_statements`, `drop_loop`, `drop_else`, `drop_elif`, `drop_except`, `unwrap_try`.
Several mutations of one file (or several files) combine into one bug (`combine.py`).
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

_COMPARE = {
    ast.Lt: ("<", "<="),
    ast.LtE: ("<=", "<"),
    ast.Gt: (">", ">="),
    ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
    ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"),
    ast.Is: ("is", "is not"),
    ast.IsNot: ("is not", "is"),
}
_BINOP = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
    ast.FloorDiv: ("//", "%"),
    ast.Mod: ("%", "//"),
    ast.LShift: ("<<", ">>"),
    ast.RShift: (">>", "<<"),
    ast.BitAnd: ("&", "|"),
    ast.BitOr: ("|", "&"),
}
_BOOLOP = {ast.And: ("and", "or"), ast.Or: ("or", "and")}

LINE_KINDS = (
    "compare_swap",
    "binop_swap",
    "boolop_swap",
    "off_by_one",
    "negate_condition",
    "drop_not",
    "wrong_default",
    "return_swap",
)
BLOCK_KINDS = (
    "drop_branch",
    "drop_statements",
    "drop_loop",
    "drop_else",
    "drop_elif",
    "drop_except",
    "unwrap_try",
)


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


def _operator_span(src: Source, a: int, b: int, token: str) -> tuple[int, int] | None:
    """Where `token` sits between two operands (only brackets and spaces may surround it)."""
    seg = src.text(a, b)
    m = re.fullmatch(r"([\s)]*)(.*?)([\s(]*)", seg, re.DOTALL)
    if m is None or " ".join(m.group(2).split()) != token:
        return None
    lead = len(m.group(1).encode("utf-8"))
    return a + lead, a + lead + len(m.group(2).encode("utf-8"))


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


class _LineFinder(Collector):
    """The one-line kinds."""

    def function(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for d in [*fn.args.defaults, *(k for k in fn.args.kw_defaults if k is not None)]:
            if not isinstance(d, ast.Constant):
                continue
            v = d.value
            if isinstance(v, bool):
                new = repr(not v)
            elif isinstance(v, int):
                new = repr(v + 1)
            else:
                continue
            a, b = self.src.start(d), self.src.end(d)
            self.add(d, "wrong_default", a, b, new, f"default {v!r} -> {new}")

    def visit_If(self, node: ast.If) -> None:
        a, b = self.src.start(node.test), self.src.end(node.test)
        if not (isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not)):
            text = self.src.text(a, b)
            self.add(node, "negate_condition", a, b, f"not ({text})", "condition negated")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            old, new = _COMPARE[type(node.ops[0])]
            span = _operator_span(
                self.src, self.src.end(node.left), self.src.start(node.comparators[0]), old
            )
            if span is not None:
                self.add(node, "compare_swap", *span, new, f"'{old}' -> '{new}'")
        for c in [node.left, *node.comparators]:
            self._off_by_one(c)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if type(node.op) in _BINOP:
            old, new = _BINOP[type(node.op)]
            span = _operator_span(
                self.src, self.src.end(node.left), self.src.start(node.right), old
            )
            if span is not None:
                self.add(node, "binop_swap", *span, new, f"'{old}' -> '{new}'")
        if isinstance(node.op, ast.Add | ast.Sub):
            self._off_by_one(node.right)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        if len(node.values) == 2:
            old, new = _BOOLOP[type(node.op)]
            span = _operator_span(
                self.src, self.src.end(node.values[0]), self.src.start(node.values[1]), old
            )
            if span is not None:
                self.add(node, "boolop_swap", *span, new, f"'{old}' -> '{new}'")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            inner = self.src.text(self.src.start(node.operand), self.src.end(node.operand))
            if isinstance(node.operand, ast.BoolOp | ast.Compare | ast.IfExp):
                inner = f"({inner})"
            a, b = self.src.start(node), self.src.end(node)
            self.add(node, "drop_not", a, b, inner, "'not' removed")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        sl = node.slice
        if isinstance(sl, ast.Slice):
            for part in (sl.lower, sl.upper):
                if part is not None:
                    self._off_by_one(part)
        else:
            self._off_by_one(sl)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "range":
            for arg in node.args:
                self._off_by_one(arg)
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        v = node.value
        if isinstance(v, ast.Constant) and isinstance(v.value, bool):
            new = repr(not v.value)
            a, b = self.src.start(v), self.src.end(v)
            self.add(node, "return_swap", a, b, new, f"return {v.value!r} -> {new}")
        self.generic_visit(node)

    def _off_by_one(self, node: ast.AST) -> None:
        if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
            return
        if not isinstance(node.value, int):
            return
        v = node.value
        new = v + 1 if v <= 0 else v - 1
        a, b = self.src.start(node), self.src.end(node)
        if self.src.text(a, b) != repr(v):
            return
        self.add(node, "off_by_one", a, b, repr(new), f"{v} -> {new}")


def find_mutations(
    rel: str, text: str, *, keep: Keep | None = None, check: bool = True
) -> list[Mutation]:
    """Every mutation of `text` (the file at `rel`) inside a function (only functions whose
    qualified name `keep` accepts, when given), in source order, without duplicates.
    `check=False` skips the syntax check of each mutant (do it later with `parses()`, for
    the few that are used: large files have thousands of candidates)."""
    from lbi_icl.envs.swe.taskset.blocks import BlockFinder

    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found: list[Mutation] = []
    for finder in (_LineFinder(rel, text, keep), BlockFinder(rel, text, keep)):
        finder.visit(tree)
        found += finder.out
    seen: set[tuple[int, int, str]] = set()
    out: list[Mutation] = []
    data = text.encode("utf-8")
    for m in sorted(found, key=lambda m: (m.line, m.kind, m.description, m.start)):
        span = (m.start, m.end, m.new)
        if span in seen or data[m.start : m.end] == m.new.encode("utf-8"):
            continue
        if check and not m.parses():
            continue
        seen.add(span)
        out.append(m)
    return out
