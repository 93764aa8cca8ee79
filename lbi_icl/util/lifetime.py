"""Child processes that die with their parent: the one place that asks Linux for it."""

from __future__ import annotations

import contextlib
import signal
import sys

PR_SET_PDEATHSIG = 1


def arm_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send `sig` to this process when its parent dies (no-op elsewhere).

    Safe in a `preexec_fn` (only a libc call): used by env workers, process-pool workers
    and servers started for tests, so a `kill -9` of `lbi` or pytest leaves no orphan."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def interruptible_child() -> None:
    """`preexec_fn` for a child that a test or harness stops with Ctrl-C (SIGINT): a shell
    that started the parent in the background hands SIGINT down *ignored*, and Python then
    never installs its KeyboardInterrupt handler; reset it to the default, and let the child
    die with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    arm_parent_death_signal()
