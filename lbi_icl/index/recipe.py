"""Index recipes (`indexes/recipes/<env>.toml`): how an environment's index is made, as data —
the synthesis settings (`SynthConfig`), the embedder and index settings, and the counts the
result must have — so `lbi index build --recipe FILE` rebuilds it anywhere and says when the
result differs from what the recipe recorded.

```toml
name = "babyai"                 # default output: indexes/<name>/
[synthesize]                    # SynthConfig fields (offline unless `llm` is set)
env = "babyai"
tasks = 120
[index]                         # embedder spec + IndexConfig (bm25, chunk_words, ann, ...)
embedder = "hash:64"            # default: the packaged all-MiniLM-L6-v2
bm25 = { k1 = 1.5, b = 0.75 }
[expect]                        # counts the built index must have (optional)
examples = 1234
```
The synthesized data goes to `<out>.data/` beside the index (ignored by git like the index);
a rerun resumes the synthesis and rebuilds the index only when asked (`--overwrite`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lbi_icl.index.manifest import Counts, IndexConfig, IndexManifest


class RecipeError(ValueError):
    """A recipe file that cannot be read, or a build whose counts differ from it."""


class IndexSettings(IndexConfig):
    """`IndexConfig` (BM25 parameters, documentation chunk window, ANN engines) plus the
    embedder spec (`load_embedder`; None: the packaged all-MiniLM-L6-v2)."""

    embedder: str | None = None
    # documentation JSONL files for the RAG baseline, besides the environment's own
    # documents that the synthesis writes (relative paths: from the working directory)
    docs: list[str] = Field(default_factory=list)

    def index_config(self) -> IndexConfig:
        return IndexConfig.model_validate(self.model_dump(exclude={"embedder", "docs"}))


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    synthesize: dict[str, Any]
    index: IndexSettings = Field(default_factory=IndexSettings)
    expect: Counts | None = None


def load_recipe(path: str | Path) -> Recipe:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
        recipe = Recipe.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RecipeError(f"{p}: cannot read the recipe ({e})") from e
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "recipe"
        raise RecipeError(f"{p}: {where}: {err['msg']}") from e
    from lbi_icl.synth.config import SynthConfig

    try:
        SynthConfig.model_validate(recipe.synthesize)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise RecipeError(f"{p}: synthesize.{where}: {err['msg']}") from e
    return recipe


def count_problems(recipe: Recipe, manifest: IndexManifest) -> list[str]:
    """How the built index's counts differ from the recipe's `expect` (none when it has
    no expectations)."""
    if recipe.expect is None:
        return []
    want, got = recipe.expect.model_dump(), manifest.counts.model_dump()
    return [f"{k}: expected {want[k]}, built {got[k]}" for k in want if want[k] != got[k]]


def build_from_recipe(
    path: str | Path,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> tuple[Path, IndexManifest, list[str]]:
    """Synthesize (or resume) the recipe's data, build its index at `out` (default
    `indexes/<name>/`), and compare the counts; returns where it is, its manifest and the
    differences from the recipe."""
    from lbi_icl.embed import load_embedder
    from lbi_icl.index.build import build_index
    from lbi_icl.synth.config import SynthConfig
    from lbi_icl.synth.pipeline import paths_for, synthesize

    recipe = load_recipe(path)
    target = Path(out) if out is not None else Path("indexes") / recipe.name
    if target.exists() and not overwrite:
        raise RecipeError(f"{target}: exists already; pass --overwrite to rebuild it")
    data = target.with_name(f"{target.name}.data") / f"{recipe.name}.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    config = SynthConfig.model_validate(recipe.synthesize)
    llm = committee = None
    if config.llm is not None or config.committee:
        from lbi_icl.llm import make_llm

        llm = make_llm(config.llm) if config.llm is not None else None
        committee = [make_llm(spec) for spec in config.committee]
    synthesize(config, data, llm=llm, committee=committee, progress=progress)
    docs = [p for p in [paths_for(data)["docs"]] if p.exists()]
    docs += [Path(p) for p in recipe.index.docs]
    manifest = build_index(
        [data],
        target,
        docs=docs,
        embedder=load_embedder(recipe.index.embedder),
        config=recipe.index.index_config(),
    )
    return target, manifest, count_problems(recipe, manifest)
