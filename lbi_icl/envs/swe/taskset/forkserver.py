"""A pytest fork server for the task-set builder (a standalone script: it runs under a
project's virtualenv and imports nothing from lbi_icl).

It imports pytest and its built-in plugins once, then for each request read from stdin (a
JSON line: cwd, args, env, path, timeout, out) forks a child that changes to `cwd`, takes
`env` as its environment and `path` in front of `sys.path`, writes its output to the file
`out` and runs `pytest.main(args)`. The project's own modules are imported only in the
child, so every run starts from the same clean state; what is saved is the interpreter
start and pytest's import with its plugins (most of a small test run). A child that uses
more than `cpu_limit` CPU seconds (RLIMIT_CPU: the same on a loaded machine as on an idle
one) or outlives `timeout` wall seconds is killed with its process group. Answers one
JSON line per request: {"exit_code", "timed_out", "seconds", "cpu_seconds"}.
"""

import contextlib
import json
import os
import resource
import signal
import sys
import time


def _child(req):
    os.setpgid(0, 0)
    cpu = req.get("cpu_limit")
    if cpu:  # CPU seconds, not wall time: a loaded machine does not make a run time out
        limit = max(1, int(cpu))
        resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 2))
    fd = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.path[:0] = req["path"]
    sys.dont_write_bytecode = True
    code = 3
    try:
        import pytest

        code = int(pytest.main(req["args"]))
    except BaseException as e:  # report anything, then exit
        print(f"fork server child: {type(e).__name__}: {e}", flush=True)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _cpu(usage):
    return usage.ru_utime + usage.ru_stime


def _wait(pid, timeout, cpu_limit):
    """(exit code, timed out, CPU seconds of the child); the process group goes too."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # what the tests left running
            over = bool(cpu_limit) and code in (-signal.SIGXCPU, -signal.SIGKILL)
            return (124 if over else code), over, _cpu(usage)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _, _, usage = os.wait4(pid, 0)
            return 124, True, _cpu(usage)
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def main():
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)  # this folder's modules must not shadow a project's
    sys.dont_write_bytecode = True
    import _pytest.config
    import pytest  # noqa: F401

    config = _pytest.config.get_config()  # imports the built-in plugins
    # and the installed ones (importing them is most of a small run's time); on a problem
    # the child loads them again and reports it
    with contextlib.suppress(Exception):
        config.pluginmanager.load_setuptools_entrypoints("pytest11")
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            _child(req)
        code, timed_out, cpu = _wait(pid, float(req["timeout"]), req.get("cpu_limit"))
        answer = {
            "exit_code": code,
            "timed_out": timed_out,
            "seconds": round(time.perf_counter() - start, 3),
            "cpu_seconds": round(cpu, 3),
        }
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
