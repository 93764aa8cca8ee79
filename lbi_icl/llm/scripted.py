"""`scripted:PATH` and `ScriptedLLM` — deterministic, offline stand-ins for a model.

Answers come from a script, never from a model, and say so: `backend="scripted"`,
`offline=True` on every response, cost 0. A script is a list of responses played in order,
and/or rules that answer requests whose text contains a substring or matches a regex.
File formats (JSON, JSONL, YAML):

    # JSON / YAML: a list of responses, or an object
    {"responses": ["go north", "pick up key"],
     "rules": [{"contains": "locked door", "response": "toggle"},
               {"regex": "step \\\\d+", "in": "last", "response": ["a", "b"]}],
     "default": "look",            # when nothing else answers (optional)
     "exhausted": "error"}         # error | repeat_last | cycle (what a used-up list does)

    # JSONL: one JSON string (a response, in order) or one rule object per line

Rules are tried first, in order; then the response list; then `default`. With several
threads the list order depends on scheduling — use rules (content-keyed) for concurrent runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lbi_icl.data.jsonl import DataError, DataProblem, iter_json_lines
from lbi_icl.llm.base import GenerationParams, LLMResponse, Message, Usage
from lbi_icl.llm.core import LLMInfo, coerce_messages
from lbi_icl.llm.errors import LLMConfigError, LLMError, ScriptExhaustedError
from lbi_icl.llm.usage import UsageTotals

log = logging.getLogger(__name__)

Exhausted = Literal["error", "repeat_last", "cycle"]


class ScriptRule(BaseModel):
    """Answer `response` (or the next of a list) when the request text matches."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    contains: str | None = None
    regex: str | None = None
    in_: Literal["all", "last", "system", "user"] = Field("all", alias="in")
    response: str | list[str]

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid regex {v!r}: {exc}") from exc
        return v

    @model_validator(mode="after")
    def _one_matcher(self) -> ScriptRule:
        if (self.contains is None) == (self.regex is None):
            raise ValueError("a rule needs exactly one of 'contains' or 'regex'")
        if isinstance(self.response, list) and not self.response:
            raise ValueError("'response' list is empty")
        return self

    def matches(self, messages: list[Message]) -> bool:
        if self.in_ == "last":
            text = messages[-1].content
        elif self.in_ in ("system", "user"):
            text = "\n".join(m.content for m in messages if m.role == self.in_)
        else:
            text = "\n".join(m.content for m in messages)
        if self.contains is not None:
            return self.contains in text
        assert self.regex is not None
        return re.search(self.regex, text) is not None


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responses: list[str] = Field(default_factory=list)
    rules: list[ScriptRule] = Field(default_factory=list)
    default: str | None = None
    exhausted: Exhausted = "error"

    @model_validator(mode="after")
    def _not_empty(self) -> Script:
        if not self.responses and not self.rules and self.default is None:
            raise ValueError("script has no responses, no rules and no default")
        return self


def _problem(path: Path, where: str, err: ValidationError | str) -> LLMConfigError:
    if isinstance(err, ValidationError):
        detail = "; ".join(
            f"field '{'.'.join(str(p) for p in e['loc']) or '<root>'}': {e['msg']}"
            for e in err.errors()
        )
    else:
        detail = err
    return LLMConfigError(f"{path}{where}: {detail}")


def _from_items(path: Path, items: list[Any], line_of: Callable[[int], str]) -> Script:
    responses: list[str] = []
    rules: list[ScriptRule] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            responses.append(item)
        elif isinstance(item, dict):
            try:
                rules.append(ScriptRule.model_validate(item))
            except ValidationError as exc:
                raise _problem(path, line_of(i), exc) from None
        else:
            raise _problem(
                path, line_of(i), f"expected a response string or a rule object, got {item!r}"
            )
    try:
        return Script(responses=responses, rules=rules)
    except ValidationError as exc:
        raise _problem(path, "", exc) from None


def load_script(path: str | Path) -> Script:
    """Read a script file (.json, .jsonl, .yaml/.yml). Errors name the file and line/field."""
    path = Path(path)
    if not path.is_file():
        raise LLMConfigError(f"scripted LLM file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        items: list[Any] = []
        lines: list[int] = []
        try:
            for n, value in iter_json_lines(path):
                if isinstance(value, DataProblem):
                    raise _problem(path, f":{n}", f"not valid JSON: {value.message}")
                items.append(value)
                lines.append(n)
        except DataError as exc:
            raise _problem(path, "", str(exc.problems[0].message)) from None
        return _from_items(path, items, lambda i: f":{lines[i]}")
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _problem(path, f":{exc.lineno}", f"not valid JSON: {exc.msg}") from None
    elif suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)  # safe_load: never constructs arbitrary objects
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise _problem(path, where, f"not valid YAML: {exc}") from None
    else:
        raise LLMConfigError(f"{path}: script files must end in .json, .jsonl, .yaml or .yml")
    if isinstance(data, list):
        return _from_items(path, data, lambda i: f" item {i}")
    if isinstance(data, dict):
        try:
            return Script.model_validate(data)
        except ValidationError as exc:
            raise _problem(path, "", exc) from None
    raise _problem(path, "", "expected a list of responses or an object with 'responses'/'rules'")


def _words(text: str) -> int:
    return len(text.split())


class ScriptedLLM:
    """An LLM whose answers are scripted (list, rules, or a callable); offline and free."""

    backend = "scripted"

    def __init__(
        self,
        responses: Sequence[str] | Callable[[list[Message]], str] | Script | None = None,
        *,
        rules: Sequence[ScriptRule | dict[str, Any]] | None = None,
        default: str | None = None,
        exhausted: Exhausted = "error",
        name: str = "scripted",
        script_sha256: str | None = None,
    ) -> None:
        self._fn: Callable[[list[Message]], str] | None = None
        if callable(responses) and not isinstance(responses, Script):
            self._fn = responses
            script = Script(default="")  # unused
        elif isinstance(responses, Script):
            script = responses
        else:
            if isinstance(responses, str):
                raise LLMConfigError("ScriptedLLM needs a list of responses, not one string")
            try:
                script = Script(
                    responses=list(responses or []),
                    rules=[ScriptRule.model_validate(r) for r in (rules or [])],
                    default=default,
                    exhausted=exhausted,
                )
            except ValidationError as exc:
                raise LLMConfigError(f"ScriptedLLM({name!r}): {exc}") from None
        self.script = script
        self.model = name
        self.spec = f"scripted:{name}"
        self.usage = UsageTotals()
        self._script_sha256 = script_sha256
        self._lock = threading.Lock()
        self._next = 0
        self._rule_next = [0] * len(script.rules)

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedLLM:
        path = Path(path)
        script = load_script(path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        log.info("scripted LLM: answers replayed from %s (offline, not a real model)", path)
        return cls(script, name=str(path), script_sha256=sha)

    def _pick(self, items: list[str], i: int) -> str | None:
        if i < len(items):
            return items[i]
        if self.script.exhausted == "repeat_last":
            return items[-1]
        if self.script.exhausted == "cycle":
            return items[i % len(items)]
        return None

    def _answer(self, messages: list[Message]) -> str:
        if self._fn is not None:
            text = self._fn(messages)
            if not isinstance(text, str):
                raise LLMError(f"{self.spec}: the script function returned {type(text).__name__}")
            return text
        s = self.script
        with self._lock:
            for r, rule in enumerate(s.rules):
                if rule.matches(messages):
                    if isinstance(rule.response, str):
                        return rule.response
                    picked = self._pick(rule.response, self._rule_next[r])
                    self._rule_next[r] += 1
                    if picked is not None:
                        return picked
            if s.responses:
                picked = self._pick(s.responses, self._next)
                self._next += 1
                if picked is not None:
                    return picked
        if s.default is not None:
            return s.default
        last = messages[-1].content.replace("\n", " ")
        raise ScriptExhaustedError(
            f"{self.spec}: no scripted response left for this request ({len(s.responses)} "
            f"listed, all used; no rule matched; no default). Last message: {last[:80]!r}. "
            "Add a rule or a 'default', or set 'exhausted' to 'cycle' or 'repeat_last'."
        )

    def complete(
        self, messages: Sequence[Message | dict[str, Any]], params: GenerationParams | None = None
    ) -> LLMResponse:
        start = time.perf_counter()
        msgs = coerce_messages(messages)
        text = self._answer(msgs)
        resp = LLMResponse(
            text=text,
            usage=Usage(
                input_tokens=sum(_words(m.content) for m in msgs), output_tokens=_words(text)
            ),
            cost_usd=0.0,
            latency_s=time.perf_counter() - start,
            cached=False,
            model=self.model,
            backend=self.backend,
            offline=True,
        )
        self.usage.add(resp)
        return resp

    def reset(self) -> None:
        """Start the script over (list and rule positions back to the beginning)."""
        with self._lock:
            self._next = 0
            self._rule_next = [0] * len(self.script.rules)

    def describe(self) -> LLMInfo:
        return LLMInfo(
            spec=self.spec,
            backend=self.backend,
            model=self.model,
            offline=True,
            script_sha256=self._script_sha256,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """File scripts pickle as their path (a worker process reloads the file and starts
        the script from the beginning); in-code scripts pickle as their script."""
        if self._script_sha256 is not None:
            return (ScriptedLLM.from_file, (self.model,))
        if self._fn is not None:
            return (_rebuild_fn, (self._fn, self.model))  # works if the callable pickles
        return (_rebuild_script, (self.script, self.model))

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"ScriptedLLM(spec={self.spec!r}, offline=True)"


def _rebuild_fn(fn: Callable[[list[Message]], str], name: str) -> ScriptedLLM:
    return ScriptedLLM(fn, name=name)


def _rebuild_script(script: Script, name: str) -> ScriptedLLM:
    return ScriptedLLM(script, name=name)
