"""Desktop env pieces that need no desktop: the tree table and its cut rule, actions, task
files and their errors, the task-set builder, refusal reasons, OSWorld's evaluator loader
and scoring rules (with OSWorld's own metrics on generated files)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from lbi_icl.envs.desktop import actions
from lbi_icl.envs.desktop.a11y_text import HEADER, linearize, nodes
from lbi_icl.envs.desktop.setup_steps import HostPaths, unmet
from lbi_icl.envs.desktop.tasks import OSWorldTask, TaskFileError, list_tasks, load_task
from tests.desktop_setup import missing_evaluators

FIXTURES = Path(__file__).parent / "fixtures" / "desktop"
TREE = (FIXTURES / "calc_tree.xml").read_text(encoding="utf-8")


# -- the accessibility tree ---------------------------------------------------------------


def test_tree_table_keeps_showing_widgets_with_coordinates() -> None:
    kept = nodes(TREE)
    cells = {n.name: n for n in kept if n.tag == "table-cell"}
    assert cells["A1"].text == "Name" and cells["B2"].text == "3"
    assert (cells["A1"].x, cells["A1"].y, cells["A1"].w) == (41, 157, 77)
    assert any(n.tag == "menu" and n.name == "Data" for n in kept)
    lin = linearize(TREE, max_chars=None)
    assert lin.text.splitlines()[0] == HEADER
    assert "table-cell\tB2\t3\t\t\t(118, 177)\t(77, 20)" in lin.text.splitlines()


def test_cut_rule_drops_empty_cells_first_then_keeps_content() -> None:
    full = linearize(TREE, max_chars=None)
    cut = linearize(TREE, max_chars=4000)
    assert full.total == cut.total and cut.shown < full.shown
    assert len(cut.text) <= 4000
    lines = cut.text.splitlines()
    assert lines[-1].startswith("[... ") and "not shown" in lines[-1]
    assert "table-cell\tA1\tName" in cut.text  # content is kept before toolbar buttons
    assert not any(ln.startswith("table-cell") and '\t""\t' in ln for ln in lines)


def test_empty_or_missing_tree() -> None:
    assert nodes("") == []
    assert linearize("", 100).text == HEADER


# -- actions ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["DONE", " done ", "`FAIL`", "WAIT."])
def test_special_actions(text: str) -> None:
    assert actions.parse(text).kind == text.strip(" `.").upper()


def test_pyautogui_code_checked_for_syntax() -> None:
    assert actions.parse("pyautogui.click(10, 20); pyautogui.press('enter')").kind == "code"
    with pytest.raises(actions.ActionError, match="not valid Python"):
        actions.parse("pyautogui.click(10, ")


def test_computer13_translates_to_pyautogui() -> None:
    p = actions.parse('{"action_type": "CLICK", "x": 5, "y": 7}', "computer_13")
    assert p.code == "pyautogui.click(5, 7)"
    p = actions.parse('{"action_type": "HOTKEY", "keys": ["ctrl", "s"]}', "computer_13")
    assert p.code == "pyautogui.hotkey('ctrl', 's')"
    p = actions.parse('{"action_type": "TYPING", "text": "it\'s"}', "computer_13")
    assert p.code == 'pyautogui.typewrite("it\'s")'
    assert actions.parse('{"action_type": "DONE"}', "computer_13").kind == "DONE"
    with pytest.raises(actions.ActionError, match="unknown computer_13"):
        actions.parse('{"action_type": "FLY"}', "computer_13")
    with pytest.raises(actions.ActionError, match="must be a number"):
        actions.parse('{"action_type": "CLICK", "x": "a", "y": 1}', "computer_13")


# -- task files ---------------------------------------------------------------------------


def _task(**over: object) -> dict:
    base = {
        "id": "t1",
        "instruction": "do it",
        "config": [{"type": "open", "parameters": {"path": "/home/user/a.xlsx"}}],
        "evaluator": {"func": "compare_table", "result": {"type": "vm_file", "path": "/x"}},
    }
    base.update(over)
    return base


def test_task_file_errors_name_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "t1.json"
    path.write_text(json.dumps(_task(evaluator={"result": {}})))
    with pytest.raises(TaskFileError, match=r"t1\.json: field evaluator\.func"):
        load_task(path)
    path.write_text("{bad json")
    with pytest.raises(TaskFileError, match=r"t1\.json: line 1: invalid JSON"):
        load_task(path)
    path.write_text(json.dumps(_task(config=[{"parameters": {}}])))
    with pytest.raises(TaskFileError, match=r"field config\.0\.type"):
        load_task(path)


def test_split_file_and_nested_spider2v_layout(tmp_path: Path) -> None:
    root = tmp_path / "evaluation_examples"
    (root / "examples" / "excel" / "t1").mkdir(parents=True)
    (root / "examples" / "excel" / "t1" / "t1.json").write_text(json.dumps(_task()))
    found = list_tasks(tmp_path, "test")  # no split file: everything is test
    assert [(d, t.id) for d, _, t in found] == [("excel", "t1")]
    (root / "test_all.json").write_text(json.dumps({"excel": ["t1", "t2"]}))
    with pytest.raises(TaskFileError, match="names excel/t2"):
        list_tasks(tmp_path, "test")
    (root / "test_all.json").write_text(json.dumps({"excel": "t1"}))
    with pytest.raises(TaskFileError, match="maps each domain to a list"):
        list_tasks(tmp_path, "test")
    with pytest.raises(TaskFileError, match="no examples/ folder"):
        list_tasks(tmp_path / "nowhere", "test")


def test_refusal_reasons(tmp_path: Path) -> None:
    if missing_evaluators():
        pytest.skip("desktop-env not installed")
    paths = HostPaths(tmp_path)
    docker = OSWorldTask.model_validate(
        _task(config=[{"type": "launch", "parameters": {"command": ["astro", "dev", "start"]}}])
    )
    assert unmet(docker, paths) == ["needs Docker (Airflow via Astro)"]
    chrome = OSWorldTask.model_validate(_task(related_apps=["chrome"]))
    assert unmet(chrome, paths) == ["needs Google Chrome"]
    cloud = OSWorldTask.model_validate(_task(config=[{"type": "bigquery_init", "parameters": {}}]))
    assert unmet(cloud, paths) == ["needs a Google Cloud account"]
    dl = OSWorldTask.model_validate(
        _task(
            config=[
                {
                    "type": "download",
                    "parameters": {
                        "files": [{"url": "http://h/a.xlsx", "path": "/home/user/a.xlsx"}]
                    },
                }
            ]
        )
    )
    assert unmet(dl, paths) == ["downloads http://h/a.xlsx (not in the file cache)"]
    unknown = OSWorldTask.model_validate(_task(evaluator={"func": "no_such_metric"}))
    why = "unknown metric 'no_such_metric': desktop-env defines no no_such_metric()"
    assert unmet(unknown, paths) == [why]


def test_download_served_from_the_file_cache_with_osworlds_names(tmp_path: Path) -> None:
    import uuid

    url = "https://example.org/data/a.xlsx"
    cached = tmp_path / "cache" / "t1" / f"{uuid.uuid5(uuid.NAMESPACE_URL, url)}_a.xlsx"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    paths = HostPaths(tmp_path, tmp_path / "cache")
    assert paths.cached_download("t1", url, "/home/user/a.xlsx") == cached
    assert paths.cached_download("t2", url, "/home/user/a.xlsx") is None


# -- the task set -------------------------------------------------------------------------


def test_taskset_is_byte_reproducible_resumable_and_large_enough(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    pytest.importorskip("docx")
    pytest.importorskip("pptx")
    from lbi_icl.envs.desktop.taskgen.build import build_taskset

    a, b = tmp_path / "a", tmp_path / "b"
    counts = build_taskset(a, seed=3)
    assert counts["train"] + counts["test"] >= 120
    build_taskset(b, seed=3)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    assert build_taskset(a, seed=3)["files_written"] == 0  # resumed: nothing to redo
    victim = next((a / "files").glob("*/*.xlsx"))
    victim.unlink()
    assert build_taskset(a, seed=3)["files_written"] == 1
    with pytest.raises(ValueError, match="other settings"):
        build_taskset(a, seed=4)
    train = json.loads((a / "train.json").read_text())
    test = json.loads((a / "test.json").read_text())
    fam = lambda ids: {i.rsplit("-", 1)[0] for v in ids.values() for i in v}  # noqa: E731
    assert fam(train) and fam(test) and not fam(train) & fam(test)  # split by family
    apps = {"libreoffice_calc", "libreoffice_writer", "libreoffice_impress"}
    assert set(train) == set(test) == apps
    for _, _, task in list_tasks(a, "train") + list_tasks(a, "test"):
        assert task.expert, task.id
        if task.infeasible:
            assert task.expert == ["FAIL"]


# -- OSWorld's evaluators -----------------------------------------------------------------


@pytest.fixture
def evaluators_or_skip() -> None:
    why = missing_evaluators()
    if why:
        import os

        if os.environ.get("CI"):
            pytest.fail(f"CI: {why}", pytrace=False)
        pytest.skip(why)


def test_metric_loader_loads_one_module_and_names_unknowns(evaluators_or_skip: None) -> None:
    import sys

    from lbi_icl.envs.desktop import evaluators

    fn = evaluators.load("metric", "compare_table")
    assert fn.__module__ == "desktop_env.evaluators.metrics.table"
    docs = evaluators.load("metric", "compare_docx_files")  # its module imports easyocr
    assert docs.__module__ == "desktop_env.evaluators.metrics.docs"
    assert "easyocr" not in sys.modules or not isinstance(
        sys.modules["easyocr"], evaluators._Placeholder
    )  # the placeholder served that import only
    assert "desktop_env.evaluators.metrics.chrome" not in sys.modules
    assert evaluators.load("getter", "vm_file").__name__ == "get_vm_file"
    with pytest.raises(evaluators.EvaluatorError, match="unknown getter 'nope'"):
        evaluators.load("getter", "nope")


def test_compare_table_scores_generated_gold_files(
    evaluators_or_skip: None, tmp_path: Path
) -> None:
    from lbi_icl.envs.desktop import evaluators
    from lbi_icl.envs.desktop.taskgen import files

    compare_table = evaluators.load("metric", "compare_table")
    rule = {"rules": [{"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}]}
    gold = tmp_path / "gold.xlsx"
    gold.write_bytes(files.xlsx({"S": [["a", "b"], ["x", 1], [None, 1]]}))
    same, other = tmp_path / "same.xlsx", tmp_path / "other.xlsx"
    shutil.copyfile(gold, same)
    other.write_bytes(files.xlsx({"S": [["a", "b"], ["x", 1], [None, 2]]}))
    assert compare_table(str(same), str(gold), **rule) == 1.0
    assert compare_table(str(other), str(gold), **rule) == 0.0


# -- the offline relabeler and the osworld env over the project's set ---------------------


def test_relabeler_reads_tree_and_file_differences() -> None:
    from lbi_icl.data import Step, Trajectory
    from lbi_icl.synth.relabel_desktop import make_relabeler

    def step(action: str, changes: list[str], saved: list[str] = (), ok: bool = True) -> Step:
        effect = {"verb": "code", "ok": ok, "changes": changes, "saved": list(saved)}
        return Step(observation="tree", action=action, info={"effect": effect})

    parent = Trajectory(
        id="p",
        env="desktop",
        instruction="Put the total in B7 and save.",
        steps=[
            step("pyautogui.hotkey('ctrl', 'shift', 'f5')", []),
            step("pyautogui.typewrite('=SUM(B2:B6)\\n')", ["table-cell 'B7': '' -> '16'"]),
            step("pyautogui.click(", [], ok=False),
            step("pyautogui.hotkey('ctrl', 'b')", []),
            step("pyautogui.hotkey('ctrl', 's')", [], ["/home/user/Sales.xlsx"]),
            Step(
                observation="tree",
                action="DONE",
                info={"effect": {"verb": "DONE"}, "success": True},
            ),
        ],
        final_observation="tree",
    )
    rel = make_relabeler()
    out = rel.relabel(parent, 0, len(parent.steps))
    texts = {w.kind + ":" + w.instruction for w in out}
    want = (
        'abstract:Enter the formula =SUM(B2:B6) in cell B7 (it shows "16"), make the '
        "selection bold, then save Sales.xlsx."
    )
    assert want in texts
    assert "abstract:Put the total in B7 and save." in texts  # the whole successful episode
    summary = next(w.instruction for w in out if w.kind == "summarize")
    assert summary.startswith("Replicate the following: pyautogui.typewrite(")
    assert rel.relabel(parent, 0, 1) == []  # a jump to the Name Box changes nothing
    assert rel.relabel(parent, 2, 3) == []  # a failed action is a no-op


def test_osworld_env_reads_the_project_set(tmp_path: Path) -> None:
    if missing_evaluators():
        pytest.skip("desktop-env not installed")
    pytest.importorskip("openpyxl")
    from lbi_icl.envs.desktop.benchmarks import OSWorldEnv
    from lbi_icl.envs.desktop.taskgen.build import build_taskset

    build_taskset(tmp_path, seed=0, per_family=1, families=["calc-sum", "calc-min"])
    env = OSWorldEnv(tasks_dir=str(tmp_path))
    assert [t.id for t in env.tasks("train")] == ["libreoffice_calc/calc-sum-000"]
    assert [t.id for t in env.tasks("test")] == ["libreoffice_calc/calc-min-000"]
    assert env.refused == {}


class _FakeDesktop:
    """Just what OSWorld's vm_file getter calls on `env.controller`."""

    host, port, token = "127.0.0.1", 9, None
    vm_ip = "127.0.0.1"

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def get_file(self, path: str) -> bytes | None:
        return self.files.get(path)


def test_scoring_mirrors_osworlds_evaluate(evaluators_or_skip: None, tmp_path: Path) -> None:
    from lbi_icl.envs.desktop import scoring
    from lbi_icl.envs.desktop.taskgen import files

    good = files.xlsx({"S": [["a"], [1]]})
    bad = files.xlsx({"S": [["a"], [2]]})
    (tmp_path / "gold.xlsx").write_bytes(good)
    rule = {"rules": [{"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}]}
    result = {"type": "vm_file", "path": "/home/user/r.xlsx", "dest": "r.xlsx"}
    other = {"type": "vm_file", "path": "/home/user/o.xlsx", "dest": "o.xlsx"}
    local = {"type": "local_file", "path": "gold.xlsx", "dest": "gold.xlsx"}
    client = _FakeDesktop({"/home/user/r.xlsx": good, "/home/user/o.xlsx": bad})

    def score(evaluator: dict, last: str | None = "DONE", cache: Path | None = None) -> float:
        task = OSWorldTask.model_validate(_task(evaluator=evaluator))
        cache = cache or Path(tempfile.mkdtemp(dir=tmp_path))
        genv = scoring.GetterEnv(controller=client, cache_dir=str(cache), paths=HostPaths(tmp_path))
        return scoring.evaluate(task, client, genv, last)  # type: ignore[arg-type]

    one = {"func": "compare_table", "result": result, "expected": local, "options": rule}
    assert score(one) == 1.0
    assert score(one, last="FAIL") == 0.0  # a feasible task ended with FAIL
    assert score({"func": "infeasible"}, last="FAIL") == 1.0
    assert score({"func": "infeasible"}, last="DONE") == 0.0
    two = {"func": ["compare_table", "compare_table"], "result": [result, other],
           "expected": [local, local], "options": [rule, rule]}  # fmt: skip
    assert score({**two, "conj": "and"}) == 0.0
    assert score({**two, "conj": "or"}) == 1.0
    missing = {**one, "result": {"type": "vm_file", "path": "/home/user/none.xlsx", "dest": "n"}}
    assert score(missing) == 0.0
    # cloud_file answered from OSWorld's cache layout: no download happens
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "gold.xlsx").write_bytes(good)
    cloud = {"type": "cloud_file", "path": "https://nowhere.invalid/g.xlsx", "dest": "gold.xlsx"}
    assert score({**one, "expected": cloud}, cache=cache) == 1.0
