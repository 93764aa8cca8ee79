import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lbi_icl import DataError, JsonlAppender, Step, Trajectory, read_jsonl, write_jsonl
from lbi_icl.cli import main
from lbi_icl.data.stats import dataset_stats

SAMPLES = Path(__file__).resolve().parents[1] / "lbi_icl" / "samples"


def _traj(i: int, n_steps: int = 2, **kw) -> Trajectory:
    return Trajectory(
        id=f"t{i}",
        env="babyai",
        instruction=f"task {i}",
        steps=[Step(observation=f"o{k}", action=f"a{k}") for k in range(n_steps)],
        final_observation="end",
        **kw,
    )


@pytest.mark.parametrize("name", ["x.jsonl", "x.jsonl.gz"])
def test_roundtrip_plain_and_gz(tmp_path: Path, name: str) -> None:
    items = [_traj(i, outcome="success", source={"kind": "expert"}) for i in range(5)]
    path = tmp_path / name
    assert write_jsonl(path, items) == 5
    assert list(read_jsonl(path, Trajectory)) == items
    if name.endswith(".gz"):
        with gzip.open(path, "rt") as fh:
            assert json.loads(fh.readline())["id"] == "t0"


def test_gz_write_is_byte_reproducible(tmp_path: Path) -> None:
    items = [_traj(i) for i in range(3)]
    write_jsonl(tmp_path / "a.jsonl.gz", items)
    write_jsonl(tmp_path / "b.jsonl.gz", items)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_strict_models_reject_coercion_and_unknown_fields() -> None:
    with pytest.raises(ValueError):
        Step.model_validate({"observation": 3, "action": "a"})  # int is not coerced to str
    with pytest.raises(ValueError):
        Step.model_validate({"observation": "o", "action": "a", "extra": 1})
    with pytest.raises(ValueError):
        Trajectory.model_validate(
            {"id": "x", "env": "e", "instruction": "i", "steps": [], "outcome": "won"}
        )


def test_trajectory_helpers() -> None:
    t = _traj(1, 3, metadata={"task_id": "lvl/7"}, source={"kind": "backward"})
    assert t.observations() == ["o0", "o1", "o2", "end"]
    assert t.actions() == ["a0", "a1", "a2"]
    assert t.task_id == "lvl/7"
    assert t.source_kind == "backward"


def test_bad_line_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    good = _traj(0).model_dump_json()
    path.write_text(good + "\n" + '{"id": "t1", "env": "e", "instruction": "i", "steps": 5}\n')
    it = read_jsonl(path, Trajectory)
    assert next(it).id == "t0"
    with pytest.raises(DataError) as exc:
        next(it)
    msg = str(exc.value)
    assert f"{path}:2" in msg and "'steps'" in msg and "valid list" in msg


def test_reader_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(_traj(0).model_dump_json() + "\nnot json\n")
    it = read_jsonl(path, Trajectory)
    assert next(it).id == "t0"  # the bad second line is not read until asked for
    with pytest.raises(DataError, match=r"d.jsonl:2: invalid JSON"):
        next(it)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    write_jsonl(path, [_traj(0)])
    before = path.read_bytes()

    def boom():
        yield _traj(1)
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, boom())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.jsonl"]  # no temp file left behind


def test_appender_repairs_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    with JsonlAppender(path) as out:
        out.write(_traj(0))
        out.write(_traj(1))
    with open(path, "a") as fh:  # a crash mid-record
        fh.write('{"id": "t2", "env": "bab')
    # a reader of a resumable output can skip the torn tail ...
    assert [t.id for t in read_jsonl(path, Trajectory, allow_torn_tail=True)] == ["t0", "t1"]
    # ... and a strict reader reports it
    with pytest.raises(DataError, match=":3: invalid JSON"):
        list(read_jsonl(path, Trajectory))
    with JsonlAppender(path) as out:  # reopening cuts the torn record
        out.write(_traj(3))
    assert [t.id for t in read_jsonl(path, Trajectory)] == ["t0", "t1", "t3"]


def test_validate_cli_reports_all_bad_lines(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["data", "validate", str(SAMPLES / "bad_trajectories.jsonl")])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if "bad_trajectories.jsonl:" in ln]
    assert [ln.split(":")[1] for ln in lines] == ["2", "3", "4"]
    assert "field 'steps.0.action': Field required" in lines[0]
    assert "field 'outcome'" in lines[1] and "'won'" in lines[1]
    assert "invalid JSON" in lines[2]


def test_validate_cli_good_file_and_duplicate_ids(tmp_path: Path) -> None:
    assert main(["data", "validate", str(SAMPLES / "trajectories.jsonl")]) == 0
    dup = tmp_path / "dup.jsonl"
    write_jsonl(dup, [_traj(0), _traj(0)])
    assert main(["data", "validate", str(dup)]) == 1


def test_stats(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    write_jsonl(
        path,
        [
            _traj(0, 1, outcome="success", source={"kind": "expert"}),
            _traj(1, 2, outcome="failure", source={"kind": "rollout"}),
            _traj(2, 6, source={"kind": "backward", "instruction_kind": "abstract"}),
        ],
    )
    st = dataset_stats([path])
    assert (st.trajectories, st.steps, st.median_steps) == (3, 9, 2.0)
    assert st.mean_steps == pytest.approx(3.0)
    assert st.by_source_kind == {"backward": 1, "expert": 1, "rollout": 1}
    assert st.by_outcome == {"failure": 1, "success": 1, "unknown": 1}


def test_import_does_not_import_torch() -> None:
    code = "import sys, lbi_icl; lbi_icl.Trajectory; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lbi_icl", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "lbi_icl 0.1.0" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "lbi_icl", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "data" in out.stdout
