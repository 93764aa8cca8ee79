"""Trajectories out to Parquet / a Hugging Face datasets folder and back, checked like any
input; formats chosen by name or extension, unknown ones refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_runner_helpers import FakeEpisode, make_tasks

from lbi_icl.cli import main as cli_main
from lbi_icl.data.jsonl import read_trajectories
from lbi_icl.runner import RunConfig, run_experiment

pytest.importorskip("pyarrow")
pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dsio")
    cfg = RunConfig(env="fake", out=root / "run", strategies=["none", "rag"], index=root / "i")
    run_experiment(cfg, tasks=make_tasks(3), episode_fn=FakeEpisode(), show_progress=False)
    return cfg.out


def _export(run: Path, out: Path, *extra: str) -> int:
    return cli_main(["export", str(run), "--out", str(out), "--all", *extra])


def test_parquet_and_datasets_round_trip(run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert _export(run, tmp_path / "a.jsonl") == 0
    want = [t.model_dump() for t in read_trajectories(tmp_path / "a.jsonl")]
    assert _export(run, tmp_path / "a.parquet") == 0  # by extension
    assert _export(run, tmp_path / "ds", "--format", "hf") == 0
    for source in (tmp_path / "a.parquet", tmp_path / "ds"):
        out = tmp_path / f"back-{source.stem}.jsonl"
        assert cli_main(["data", "import", str(source), "--out", str(out)]) == 0
        assert [t.model_dump() for t in read_trajectories(out)] == want
    import datasets

    ds = datasets.load_from_disk(str(tmp_path / "ds"))
    assert len(ds) == len(want) and set(ds.column_names) >= {"id", "instruction", "trajectory"}
    assert ds[0]["n_steps"] == len(want[0]["steps"])
    # an existing folder is replaced only with --overwrite
    assert _export(run, tmp_path / "ds", "--format", "hf") == 1
    assert _export(run, tmp_path / "ds", "--format", "hf", "--overwrite") == 0
    capsys.readouterr()
    assert _export(run, tmp_path / "a.csv") == 1
    assert "cannot tell the format" in capsys.readouterr().err
    assert _export(run, tmp_path / "folder") == 1  # a datasets folder is asked for by name


def test_import_checks_every_row_and_writes_nothing_on_a_bad_one(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = {
        "id": "a",
        "env": "e",
        "instruction": "do",
        "steps": [{"observation": "o", "action": "x"}],
    }
    rows = [
        {"trajectory": json.dumps(good)},
        {"trajectory": json.dumps({**good, "id": "b", "steps": []})},
        {"trajectory": json.dumps(good)},  # duplicate id
        {"trajectory": '{"id": "c", "env": "e", "instruction": "\\ud800", "steps": []}'},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bad.parquet")
    out = tmp_path / "x.jsonl"
    assert cli_main(["data", "import", str(tmp_path / "bad.parquet"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "bad.parquet row 2: field 'steps'" in err
    assert "row 3: field 'id': duplicate id 'a'" in err
    assert "row 4" in err and "lone surrogate" in err
    assert not out.exists()
    # a table from elsewhere: its columns are the record (steps as a list of structs)
    pq.write_table(pa.Table.from_pylist([good, {**good, "id": "b"}]), tmp_path / "plain.parquet")
    assert cli_main(["data", "import", str(tmp_path / "plain.parquet"), "--out", str(out)]) == 0
    assert [t.id for t in read_trajectories(out)] == ["a", "b"]
