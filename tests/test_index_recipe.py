"""Index recipes (`lbi index build --recipe`): the shipped recipes load, a recipe builds the
same index as the equivalent synthesize + build commands, count differences and bad fields
are one-line errors naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lbi_icl.cli import main as cli_main
from lbi_icl.embed import load_embedder
from lbi_icl.index import BM25Params, IndexConfig, build_index, load_index
from lbi_icl.index.recipe import RecipeError, load_recipe

REPO = Path(__file__).resolve().parents[1]

TINY = """
name = "tiny"
[synthesize]
env = "babyai"
split = "train"
tasks = 2
explorers = ["expert"]
max_steps = 30
windows_per_trajectory = 4
[index]
embedder = "hash:64"
bm25 = {{ k1 = 1.2, b = 0.6 }}
{expect}
"""


def _recipe(tmp_path: Path, expect: str = "") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(expect=expect), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", sorted((REPO / "indexes" / "recipes").glob("*.toml")), ids=str)
def test_shipped_recipes_load(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    assert recipe.synthesize["env"]


def test_every_documented_index_has_a_recipe() -> None:
    names = {p.stem for p in (REPO / "indexes" / "recipes").glob("*.toml")}
    assert {"babyai", "scienceworld", "swe", "miniwob", "desktop"} <= names
    readme = (REPO / "indexes" / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"recipes/{name}.toml" in readme


@pytest.mark.babyai
def test_recipe_builds_what_the_commands_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("minigrid")
    recipe = _recipe(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli_main(["index", "build", "--recipe", str(recipe), "--json"]) == 0
    built = tmp_path / "indexes" / "tiny"  # the default output, relative to the cwd
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["bm25"]["k1"] == 1.2 and manifest["bm25"]["b"] == 0.6
    assert manifest["embedder"]["spec"] == "hash:64"

    # the same settings through the two commands give the same content
    data = tmp_path / "by-hand.jsonl"
    synth = ["synthesize", "--env", "babyai", "--split", "train", "--tasks", "2"]
    synth += ["--explorers", "expert", "--max-steps", "30", "--windows-per-trajectory", "4"]
    assert cli_main([*synth, "--out", str(data), "--no-progress"]) == 0
    docs = tmp_path / "by-hand.docs.jsonl"
    build_index(
        [data],
        tmp_path / "by-hand",
        docs=[docs] if docs.exists() else [],
        embedder=load_embedder("hash:64"),
        config=IndexConfig(bm25=BM25Params(k1=1.2, b=0.6)),
    )
    by_hand = json.loads((tmp_path / "by-hand" / "manifest.json").read_text())
    assert manifest["content_hash"] == by_hand["content_hash"]
    assert manifest["counts"] == by_hand["counts"] and manifest["counts"]["examples"] > 0
    assert load_index(built).n_examples == manifest["counts"]["examples"]

    # rebuilding needs --overwrite; with it, the synthesis resumes (nothing new) and the
    # index is replaced
    capsys.readouterr()
    assert cli_main(["index", "build", "--recipe", str(recipe)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert cli_main(["index", "build", "--recipe", str(recipe), "--overwrite"]) == 0

    # counts the recipe records: equal -> 0, different -> 1 naming each difference
    c = manifest["counts"]
    good = "[expect]\n" + "\n".join(f"{k} = {v}" for k, v in c.items())
    assert (
        cli_main(["index", "build", "--recipe", str(_recipe(tmp_path, good)), "--overwrite"]) == 0
    )
    bad = good.replace(f"examples = {c['examples']}", f"examples = {c['examples'] + 5}")
    capsys.readouterr()
    assert cli_main(["index", "build", "--recipe", str(_recipe(tmp_path, bad)), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert f"examples: expected {c['examples'] + 5}, built {c['examples']}" in err
    assert "steps:" not in err


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('name = "x"\n[synthesize]\nenv = "babyai"\nfoo = 1\n', "synthesize.foo"),
        ('name = "x"\n[synthesize]\nenv = "babyai"\ntasks = 0\n', "synthesize.tasks"),
        (
            'name = "x"\n[synthesize]\nenv = "babyai"\n[index]\nchunk_words = 5\n',
            "index.chunk_words",
        ),
        ('name = "x"\n[synthesize]\nenv = "babyai"\n[expect]\nexample = 3\n', "expect.example"),
        ('name = "a b"\n[synthesize]\nenv = "babyai"\n', "name"),
        ('name = "x"\n', "synthesize"),
        ('name = "x"\n[synthesize\n', "cannot read"),
    ],
)
def test_bad_recipes_name_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError, match=f"^{path}: {where}"):
        load_recipe(path)
    assert cli_main(["index", "build", "--recipe", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and where in err and "Traceback" not in err


def test_recipe_and_trajectories_are_exclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        cli_main(["index", "build", "--recipe", "a.toml", "--trajectories", "b.jsonl"])
    assert e.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
    assert cli_main(["index", "build", "--trajectories", "b.jsonl"]) == 1
    assert "--out is required" in capsys.readouterr().err
