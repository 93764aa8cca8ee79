"""The Learn-by-interact synthesis pipeline (the paper's Algorithm 1): tasks from the
environment or self-instruct, rollouts, backward construction, filters — each stage
swappable, every stage counted, streamed and resumable. See `pipeline.py`."""

from lbi_icl.synth.backward import (
    LLMRelabeler,
    all_windows,
    count_windows,
    select_windows,
    window_example,
)
from lbi_icl.synth.base import Relabeler, WindowChecker, WindowInstruction
from lbi_icl.synth.config import COUNT_KEYS, SynthConfig, SynthReport
from lbi_icl.synth.filters import Committee, content_key, drop_repeated_steps, parse_judgement
from lbi_icl.synth.pipeline import SynthConflictError, paths_for, synthesize
from lbi_icl.synth.relabelers import NoRelabelerError, get_checker, get_relabeler
from lbi_icl.util.seeds import stable_seed

__all__ = [
    "COUNT_KEYS",
    "Committee",
    "LLMRelabeler",
    "NoRelabelerError",
    "Relabeler",
    "SynthConfig",
    "SynthConflictError",
    "SynthReport",
    "WindowChecker",
    "WindowInstruction",
    "all_windows",
    "content_key",
    "count_windows",
    "drop_repeated_steps",
    "get_checker",
    "get_relabeler",
    "parse_judgement",
    "paths_for",
    "select_windows",
    "stable_seed",
    "synthesize",
    "window_example",
]
