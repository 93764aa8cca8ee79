"""Children armed with `arm_parent_death_signal` die when their parent is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux prctl")

PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from lbi_icl.local.server import _child_setup
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        start_new_session=True,  # like the server: not in the parent's process group
        preexec_fn=_child_setup(None, {armed}),
    )
    print(child.pid, flush=True)
    time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"


def _child_after_parent_kill(armed: bool, wait_s: float) -> tuple[int, bool]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(armed=armed)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait_s
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return child_pid, _alive(child_pid)


def test_armed_child_dies_with_its_parent() -> None:
    _, alive = _child_after_parent_kill(armed=True, wait_s=10)
    assert not alive


def test_unarmed_child_outlives_its_parent() -> None:
    """The control: the same child without the signal survives (so the test can fail)."""
    pid, alive = _child_after_parent_kill(armed=False, wait_s=1)
    try:
        assert alive
    finally:
        os.kill(pid, signal.SIGKILL)
