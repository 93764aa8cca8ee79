"""Every prompt the library sends to an LLM, as a template in `defaults/NAME.txt`
(`string.Template` syntax; see `templates.py` for why). A run or synthesis can point any
of them at the user's own file; `PROMPTS` lists the names and the variables each may use.
"""

from lbi_icl.prompts.specs import PROMPTS, PromptSpec, names_of
from lbi_icl.prompts.templates import (
    DEFAULT,
    PromptError,
    PromptSet,
    PromptTemplate,
    check_template,
    default_prompts,
    default_template,
    load_prompts,
    load_template,
)

__all__ = [
    "DEFAULT",
    "PROMPTS",
    "PromptError",
    "PromptSet",
    "PromptSpec",
    "PromptTemplate",
    "check_template",
    "default_prompts",
    "default_template",
    "load_prompts",
    "load_template",
    "names_of",
]
