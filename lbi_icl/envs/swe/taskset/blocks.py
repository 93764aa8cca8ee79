"""Block mutations: whole lines of a function removed — a branch, a loop, a run of
statements, an `else`/`elif` clause or an `except` handler — or a `try` unwrapped (its
handler removed, its body dedented). Each replaces one span of whole lines; the rest of
the file is kept byte for byte.
"""

from __future__ import annotations

import ast
import re

from lbi_icl.envs.swe.taskset.spans import Collector

_SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Delete)
_ELSE = re.compile(r"^\s*else\s*:")
_EXCEPT = re.compile(r"^\s*except\b")
MAX_RUN = 3  # statements removed at once by drop_statements


def _is_docstring(st: ast.stmt) -> bool:
    return (
        isinstance(st, ast.Expr)
        and isinstance(st.value, ast.Constant)
        and isinstance(st.value.value, str)
    )


def _end(st: ast.stmt) -> int:
    return st.end_lineno or st.lineno


class BlockFinder(Collector):
    def _remove_lines(self, node: ast.AST, kind: str, first: int, last: int, desc: str) -> None:
        self.add(node, kind, self.src.line_start(first), self.src.line_end(last), "", desc)

    # -- bodies -------------------------------------------------------------------------
    def _body(self, body: list[ast.stmt]) -> None:
        """drop_branch / drop_loop / drop_statements inside one statement list (which
        keeps at least one other statement, so it stays a valid block)."""
        if not self.scopes or len(body) < 2:
            return
        for st in body:
            if not self.src.alone_on_lines(st):
                continue
            if isinstance(st, ast.If) and not st.orelse:
                self._remove_lines(st, "drop_branch", st.lineno, _end(st), "if-branch removed")
            elif isinstance(st, ast.For | ast.AsyncFor | ast.While):
                what = "while" if isinstance(st, ast.While) else "for"
                self._remove_lines(st, "drop_loop", st.lineno, _end(st), f"{what}-loop removed")
        for i in range(len(body)):
            for n in range(1, MAX_RUN + 1):
                run = body[i : i + n]
                if len(run) < n or len(body) - n < 1:
                    break
                if not all(
                    isinstance(s, _SIMPLE) and not _is_docstring(s) and self.src.alone_on_lines(s)
                    for s in run
                ):
                    break
                first, last = run[0].lineno, _end(run[-1])
                if last == first:
                    continue  # one line removed: a one-line change, not a block
                word = "statement" if n == 1 else f"{n} statements"
                self._remove_lines(run[0], "drop_statements", first, last, f"{word} removed")

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._body(node.body)

    def visit_For(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        self._body(node.body)
        self.generic_visit(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]
    visit_While = visit_For  # type: ignore[assignment]

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        self._body(node.body)
        self.generic_visit(node)

    visit_AsyncWith = visit_With  # type: ignore[assignment]

    # -- if / elif / else ---------------------------------------------------------------
    def visit_If(self, node: ast.If) -> None:
        self._body(node.body)
        self._body(node.orelse)
        if node.orelse and self.scopes:
            first = node.orelse[0]
            is_elif = (
                len(node.orelse) == 1
                and isinstance(first, ast.If)
                and self.src.line_text(first.lineno).lstrip().startswith("elif")
            )
            if is_elif:
                assert isinstance(first, ast.If)
                last = _end(first.body[-1])
                if not first.orelse or first.orelse[0].lineno > last:
                    self._remove_lines(first, "drop_elif", first.lineno, last, "elif removed")
            else:
                self._drop_else(node, _end(node.body[-1]) + 1, first.lineno, _end(node))
        self.generic_visit(node)

    def _drop_else(self, node: ast.stmt, lo: int, hi: int, last: int) -> None:
        for ln in range(lo, hi + 1):
            if _ELSE.match(self.src.line_text(ln)):
                self._remove_lines(node, "drop_else", ln, last, "else-branch removed")
                return

    # -- try ----------------------------------------------------------------------------
    def visit_Try(self, node: ast.Try) -> None:
        self._body(node.body)
        for h in node.handlers:
            self._body(h.body)
        if self.scopes and len(node.handlers) >= 2:
            for h in node.handlers:
                if _EXCEPT.match(self.src.line_text(h.lineno)):
                    what = self.src.line_text(h.lineno).strip().rstrip(":")
                    self._remove_lines(
                        h, "drop_except", h.lineno, _end(h.body[-1]), f"'{what}' removed"
                    )
        elif self.scopes and len(node.handlers) == 1 and not node.orelse and not node.finalbody:
            self._unwrap(node)
        self.generic_visit(node)

    def _unwrap(self, node: ast.Try) -> None:
        """`try: BODY except ...: ...` → BODY, dedented to the `try`'s level."""
        if not self.src.alone_on_lines(node) or node.body[0].lineno == node.lineno:
            return
        if self.src.line_text(node.lineno).strip().split("#")[0].strip() != "try:":
            return
        delta = node.body[0].col_offset - node.col_offset
        if delta <= 0:
            return
        lines: list[str] = []
        for ln in range(node.body[0].lineno, _end(node.body[-1]) + 1):
            text = self.src.line_text(ln)
            if not text.strip():
                lines.append(text)
            elif text.startswith(" " * delta):
                lines.append(text[delta:])
            else:
                return  # a continuation (or string) line less indented: leave it
        new = "".join(lines)
        old_body = "".join(
            self.src.line_text(ln) for ln in range(node.body[0].lineno, _end(node.body[-1]) + 1)
        )
        if not _same_statements(old_body, new):
            return  # dedenting would change a string's text
        handler = node.handlers[0]
        what = self.src.line_text(handler.lineno).strip().rstrip(":")
        a, b = self.src.line_start(node.lineno), self.src.line_end(_end(node))
        self.add(node, "unwrap_try", a, b, new, f"try/'{what}' removed, body kept")


def _statements(text: str) -> list[str] | None:
    """The AST (without positions) of a block of statements, indented or not."""
    try:
        if text[:1] in (" ", "\t"):
            body = ast.parse("if 1:\n" + text).body[0].body  # type: ignore[attr-defined]
        else:
            body = ast.parse(text).body
    except SyntaxError:
        return None
    return [ast.dump(s) for s in body]


def _same_statements(a: str, b: str) -> bool:
    sa = _statements(a)
    return sa is not None and sa == _statements(b)
