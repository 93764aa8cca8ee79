"""The Ray executor's parts that need no Ray: per-env worker resources, the error without
the [ray] extra, and that `import lbi_icl` never imports ray."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, ClassVar

import pytest

from lbi_icl.cli import main as cli_main
from lbi_icl.cluster.session import (
    DEFAULT_WORKER_RESOURCES,
    RayUnavailableError,
    env_worker_resources,
    ray_session,
)
from lbi_icl.envs.registry import register_env, unregister_env
from lbi_icl.runner.config import RunConfig


def test_import_lbi_icl_does_not_import_ray() -> None:
    code = "import sys, lbi_icl, lbi_icl.runner, lbi_icl.cli; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_worker_resources_come_from_the_env_class() -> None:
    pytest.importorskip("scienceworld")
    res = env_worker_resources("scienceworld")
    assert res["num_cpus"] == 1 and res["memory"] >= 2**30
    assert env_worker_resources("swe")["num_cpus"] == 1


class _Declares:
    worker_resources: ClassVar[dict[str, Any]] = {"num_cpus": 2, "resources": {"gpu_box": 1}}


class _Typo:
    worker_resources: ClassVar[dict[str, Any]] = {"cpus": 2}


def test_worker_resources_default_and_bad_keys() -> None:
    register_env("ray-declares", lambda **_: _Declares())
    register_env("ray-typo", lambda **_: _Typo())
    register_env("ray-class", _Declares)  # type: ignore[arg-type]
    try:
        # a factory function declares nothing: one CPU
        assert env_worker_resources("ray-declares") == DEFAULT_WORKER_RESOURCES
        assert env_worker_resources("ray-class") == {"num_cpus": 2, "resources": {"gpu_box": 1}}
        register_env("ray-typo", _Typo, overwrite=True)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"ray-typo.*unknown key\(s\) \['cpus'\]"):
            env_worker_resources("ray-typo")
    finally:
        for name in ("ray-declares", "ray-typo", "ray-class"):
            unregister_env(name)


def test_without_ray_the_error_says_how_to_install(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with (
        pytest.raises(RayUnavailableError, match=r"pip install -e \"\.\[ray\]\""),
        ray_session(1, None),
    ):
        pass
    argv = ["run", "--env", "babyai", "--tasks", "1", "--out", str(tmp_path / "r"),
            "--executor", "ray", "--no-progress"]  # fmt: skip
    pytest.importorskip("minigrid")
    assert cli_main(argv) == 1
    assert "--executor ray needs Ray" in capsys.readouterr().err
    assert not (tmp_path / "r" / "manifest.json").exists()  # refused before the session


def test_executor_is_not_part_of_the_fingerprint(tmp_path) -> None:
    a = RunConfig(env="babyai", out=tmp_path)
    b = RunConfig(env="babyai", out=tmp_path, executor="ray", ray_address="127.0.0.1:1")
    assert a.fingerprint() == b.fingerprint()  # a run started locally resumes on Ray
    with pytest.raises(ValueError):
        RunConfig(env="babyai", out=tmp_path, executor="cluster")
