"""The fault-injection suites of issues 10 and 22 under pytest: one test per case of
`benchmarks/faults/faults.py` and `faults2.py` (which `faults.py` prints as one table)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("minigrid")  # the run / synthesize cases use BabyAI

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lbi_faults", ROOT / "benchmarks/faults/faults.py")
assert _spec is not None and _spec.loader is not None
faults = importlib.util.module_from_spec(_spec)
sys.modules["lbi_faults"] = faults
_spec.loader.exec_module(faults)


@pytest.fixture(scope="module")
def shared_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults-shared")
    ws = faults.Workspace(root)
    ws.fresh()
    ws.clean_index()
    return root / "clean-index"


ALL = faults.all_cases()


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ALL, ids=[f"issue{c.issue}-item{c.item}-{c.name[:40]}" for c in ALL]
)
def test_fault(case: faults.Case, tmp_path: Path, shared_index: Path) -> None:
    shutil.copytree(shared_index, tmp_path / "clean-index")
    res = faults.run_case(case, tmp_path)
    assert res.ok, f"expected: {case.expected}; observed: {res.observed}"
