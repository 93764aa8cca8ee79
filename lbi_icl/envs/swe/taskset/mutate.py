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
`Mutation` and the AST walk both finders share are in `spans.py`.
"""

from __future__ import annotations

import ast
import re

from lbi_icl.envs.swe.taskset.blocks import BlockFinder
from lbi_icl.envs.swe.taskset.spans import Collector, Keep, Mutation, Source

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


def _operator_span(src: Source, a: int, b: int, token: str) -> tuple[int, int] | None:
    """Where `token` sits between two operands (only brackets and spaces may surround it)."""
    seg = src.text(a, b)
    m = re.fullmatch(r"([\s)]*)(.*?)([\s(]*)", seg, re.DOTALL)
    if m is None or " ".join(m.group(2).split()) != token:
        return None
    lead = len(m.group(1).encode("utf-8"))
    return a + lead, a + lead + len(m.group(2).encode("utf-8"))


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
