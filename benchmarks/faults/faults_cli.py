"""Fault cases of CLI argument validation and reports: weak flags, bad --out paths, non-run dirs."""

from __future__ import annotations

from faults_harness import FIXTURES, Result, Workspace, lbi, one_line_error, run_args


# ------------------------------------------------------------------ item 5: --out is a file
def case_out_is_file(ws: Workspace) -> Result:
    d = ws.fresh()
    f = d / "afile"
    f.write_text("x")
    rc, _, err = lbi(*run_args(f, "--retrieval", "none"))
    return one_line_error(rc, err, "afile", "not a directory")


# ------------------------------------------------------------------ item 8: flags and paths
def case_empty_strategies(ws: Workspace) -> Result:
    d = ws.fresh()
    argv = run_args(d / "run")
    argv[0] = "ablate"
    rc, _, err = lbi(*argv, "--strategies", "")
    return one_line_error(rc, err, "--strategies")


def case_k0(ws: Workspace) -> Result:
    ws.fresh()
    index = ws.clean_index()
    rc, _out, err = lbi(
        "index", "query", str(index), "--field", "observation", "--text", "x", "-k", "0"
    )
    return Result(f"exit {rc}: {err.strip().splitlines()[-1][:100]}", rc != 0 and ">= 1" in err)


def case_m1_zero(ws: Workspace) -> Result:
    d = ws.fresh()
    index = ws.clean_index()
    rc, _, err = lbi(
        *run_args(d / "run", "--retrieval", "observation", "--index", str(index)),
        "--set",
        "retrieval.m1=0",
    )
    res = one_line_error(rc, err, "retrieval.m1")
    res.ok = res.ok and not (d / "run").exists()
    return res


def case_help_example(ws: Workspace) -> Result:
    d = ws.fresh()
    _, help_text, _ = lbi("run", "--help")
    import re

    m = re.search(r"retrieval\.(\w+)=(\d+)", help_text.replace("\n", " "))
    assert m is not None, help_text
    rc, _, _err = lbi(
        *run_args(d / "run", "--tasks", "1", "--retrieval", "none"), "--set", m.group(0)
    )
    return Result(f"--help example {m.group(0)!r}: exit {rc}", rc == 0)


def case_report_not_run(ws: Workspace) -> Result:
    d = ws.fresh()
    (d / "notarun").mkdir()
    rc1, _, e1 = lbi("report", str(d / "notarun"), "--format", "html")
    rc2, _, e2 = lbi("export", str(d / "notarun"), "--out", str(d / "x.jsonl"))
    a, b = one_line_error(rc1, e1, "not a run directory"), one_line_error(rc2, e2, "not a run")
    wrote = any((d / "notarun").iterdir())
    return Result(
        f"report {a.observed} | export exit {rc2}; wrote into it: {wrote}",
        a.ok and b.ok and not wrote,
    )


def case_no_empty_out(ws: Workspace) -> Result:
    d = ws.fresh()
    a = ["run", "--env", "nosuchenv", "--tasks", "1", "--out", str(d / "r2")]
    rc2, _, _ = lbi(*a)
    b = run_args(d / "r3", "--retrieval", "observation", "--index", str(d / "missing"))
    rc3, _, _ = lbi(*b)
    made = [n for n in ("r2", "r3") if (d / n).exists()]
    ok = rc2 == 1 and rc3 == 1 and not made
    return Result(f"unknown env exit {rc2}, missing index exit {rc3}; dirs left: {made}", ok)


def case_strategy_lists(ws: Workspace) -> Result:
    d = ws.fresh()
    index = ws.clean_index()
    held = str(FIXTURES / "heldout.jsonl")
    base = ["eval-retrieval", "--index", str(index), "--heldout", held, "--json"]
    rc1, _, _e1 = lbi(*base, "--strategies", "observation,instruction")
    rc2, _, _e2 = lbi(*base, "--strategies", "observation", "instruction")
    argv = run_args(d / "run", "--tasks", "1", "--index", str(index))
    argv[0] = "ablate"
    rc3, _, _e3 = lbi(*argv, "--strategies", "none", "observation")
    ok = rc1 == 0 and rc2 == 0 and rc3 == 0
    return Result(f"eval commas {rc1}, eval spaces {rc2}, ablate spaces {rc3}", ok)
