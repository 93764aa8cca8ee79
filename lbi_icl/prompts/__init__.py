"""Every prompt the library sends to an LLM, as a template in `defaults/NAME.txt`
(`string.Template` syntax; see `templates.py` for why). A run or synthesis can point any
of them at the user's own file; `PROMPTS` lists the names and the variables each may use;
`PROMPT_LAYOUTS` the agent prompt's layouts (specs.py).
"""

from lbi_icl.prompts.specs import (
    DEFAULT_LAYOUT,
    LEGACY_LAYOUT,
    PROMPT_LAYOUTS,
    PROMPTS,
    PromptLayout,
    PromptSpec,
    names_of,
)
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
    "DEFAULT_LAYOUT",
    "LEGACY_LAYOUT",
    "PROMPTS",
    "PROMPT_LAYOUTS",
    "PromptError",
    "PromptLayout",
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
