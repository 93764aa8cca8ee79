"""AST-based bug-introducing transformations (in the spirit of SWE-smith's procedural
bugs). Each mutation changes one small span of a function's source text, so the fix is a
one-line diff a developer could find: the AST only says *where*; the text outside that
span is kept byte for byte (comments, formatting).

Kinds: `compare_swap` (`<`→`<=`, `==`→`!=`, `in`→`not in`, ...), `binop_swap` (`+`↔`-`,
`//`↔`%`, `<<`↔`>>`, `&`↔`|`), `boolop_swap` (`and`↔`or`), `off_by_one` (an integer
literal in a comparison, index, slice or `range` call ± 1), `drop_branch` (an `if` without
`else` deleted), `negate_condition` (`if c` → `if not (c)`), `drop_not` (`not x` → `x`),
`wrong_default` (a literal default argument changed), `return_swap` (`return True` ↔
`return False`).
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Mutation:
    file: str  # path relative to the project root
    function: str  # qualified name of the enclosing function
    kind: str
    line: int  # 1-based line of the change
    description: str
    mutated: str  # the whole file after the change

    @property
    def key(self) -> str:
        blob = f"{self.file}\x1f{self.function}\x1f{self.kind}\x1f{self.line}\x1f{self.mutated}"
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


class _Source:
    """Byte offsets for AST positions (col_offset is in UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
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

    def splice(self, a: int, b: int, new: str) -> str:
        return (self.data[:a] + new.encode("utf-8") + self.data[b:]).decode("utf-8")


def _operator_span(src: _Source, a: int, b: int, token: str) -> tuple[int, int] | None:
    """Where `token` sits between two operands (only brackets and spaces may surround it)."""
    seg = src.text(a, b)
    m = re.fullmatch(r"([\s)]*)(.*?)([\s(]*)", seg, re.DOTALL)
    if m is None or " ".join(m.group(2).split()) != token:
        return None
    lead = len(m.group(1).encode("utf-8"))
    return a + lead, a + lead + len(m.group(2).encode("utf-8"))


class _Finder(ast.NodeVisitor):
    def __init__(self, rel: str, text: str) -> None:
        self.rel, self.src, self.stack = rel, _Source(text), []  # type: list[str]
        self.out: list[Mutation] = []
        self.parents: dict[int, ast.AST] = {}

    def _add(self, node: ast.AST, kind: str, a: int, b: int, new: str, desc: str) -> None:
        if not self.stack:
            return
        mutated = self.src.splice(a, b, new)
        try:
            ast.parse(mutated)
        except SyntaxError:
            return
        line = node.lineno  # type: ignore[attr-defined]
        self.out.append(Mutation(self.rel, ".".join(self.stack), kind, line, desc, mutated))

    # -- scopes -------------------------------------------------------------------------
    def _scope(self, node: ast.AST, name: str) -> None:
        self.stack.append(name)
        self.generic_visit(node)
        self.stack.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scope(node, node.name)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        self._defaults(node)
        self._body_branches(node.body)
        for child in node.body:
            self.visit(child)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    # -- kinds --------------------------------------------------------------------------
    def _defaults(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
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
            self._add(d, "wrong_default", a, b, new, f"default {v!r} -> {new}")

    def _body_branches(self, body: list[ast.stmt]) -> None:
        """`drop_branch` for ifs without else in a body that keeps other statements."""
        if len(body) < 2:
            return
        for st in body:
            if isinstance(st, ast.If) and not st.orelse:
                a = self.src.off(st.lineno, 0)
                line_end = self.src.off(st.end_lineno or st.lineno, 0)
                nl = self.src.data.find(b"\n", line_end)
                b = len(self.src.data) if nl < 0 else nl + 1
                if self.src.text(a, self.src.start(st)).strip():
                    continue  # something else shares the line
                self._add(st, "drop_branch", a, b, "", "if-branch removed")

    def visit_If(self, node: ast.If) -> None:
        self._body_branches(node.body)
        a, b = self.src.start(node.test), self.src.end(node.test)
        if isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not):
            pass  # drop_not covers it
        else:
            text = self.src.text(a, b)
            self._add(node, "negate_condition", a, b, f"not ({text})", "condition negated")
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._body_branches(node.body)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._body_branches(node.body)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            old, new = _COMPARE[type(node.ops[0])]
            span = _operator_span(
                self.src, self.src.end(node.left), self.src.start(node.comparators[0]), old
            )
            if span is not None:
                self._add(node, "compare_swap", *span, new, f"'{old}' -> '{new}'")
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
                self._add(node, "binop_swap", *span, new, f"'{old}' -> '{new}'")
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
                self._add(node, "boolop_swap", *span, new, f"'{old}' -> '{new}'")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            a, b = self.src.start(node), self.src.start(node.operand)
            inner = self.src.text(self.src.start(node.operand), self.src.end(node.operand))
            if isinstance(node.operand, ast.BoolOp | ast.Compare | ast.IfExp):
                inner = f"({inner})"
            self._add(node, "drop_not", a, self.src.end(node), inner, "'not' removed")
            del b
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
            self._add(node, "return_swap", a, b, new, f"return {v.value!r} -> {new}")
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
        self._add(node, "off_by_one", a, b, repr(new), f"{v} -> {new}")


def find_mutations(rel: str, text: str) -> list[Mutation]:
    """Every mutation of `text` (the file at `rel`) inside a function, in source order,
    without duplicates (the same resulting text counts once)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    finder = _Finder(rel, text)
    finder.visit(tree)
    seen: set[str] = set()
    out: list[Mutation] = []
    for m in sorted(finder.out, key=lambda m: (m.line, m.kind, m.description)):
        if m.mutated in seen or m.mutated == text:
            continue
        seen.add(m.mutated)
        out.append(m)
    return out
