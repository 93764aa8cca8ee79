"""LibreOffice Calc task families: formulas, entering and clearing data, formatting, rows.
Each is scored by OSWorld's `compare_table` against a gold workbook made here."""

from __future__ import annotations

import random
from typing import Any

from lbi_icl.envs.desktop.taskgen import files
from lbi_icl.envs.desktop.taskgen.spec import FILES, SAVE, Family, GenTask, goto, table, typed

DATA_RULE = {"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}


def _book(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FILES), rng.choice(["Data", "Sheet1", "Report", "Q1"])


def _aggregate(fn: str, word: str) -> Any:
    def make(rng: random.Random) -> GenTask:
        name, sheet = _book(rng)
        n = rng.randint(4, 9)
        header = rng.choice(["Units", "Amount", "Score", "Price"])
        rows = table(rng, n, ["Item" if rng.random() < 0.5 else "Name", header])
        values = [r[1] for r in rows[1:]]
        result = {"SUM": sum(values), "MAX": max(values), "MIN": min(values),
                  "AVERAGE": round(sum(values) / n, 6)}[fn]  # fmt: skip
        target = f"B{n + 2}"
        gold = [*rows, [None, result]]
        formula = f"={fn}(B2:B{n + 1})"
        return GenTask(
            family=f"calc-{fn.lower()}",
            app="calc",
            instruction=f"In {name}.xlsx, put the {word} of the {header} column (B2:B{n + 1}) "
            f"in cell {target} as a formula, then save the file.",
            filename=f"{name}.xlsx",
            input=files.xlsx({sheet: rows}),
            gold=files.xlsx({sheet: gold}),
            metric="compare_table",
            options={"rules": [DATA_RULE]},
            expert=[*goto(target), typed(formula + "\n"), SAVE],
        )

    return make


def _fill_value(rng: random.Random) -> GenTask:
    name, sheet = _book(rng)
    n = rng.randint(3, 8)
    rows = table(rng, n, ["Name", "Score", "Bonus"])
    r = rng.randint(2, n + 1)
    value = rng.randint(100, 999)
    gold = [list(row) for row in rows]
    gold[r - 1][2] = value
    who = rows[r - 1][0]
    return GenTask(
        family="calc-fill-value",
        app="calc",
        instruction=f"In {name}.xlsx, set {who}'s Bonus (cell C{r}) to {value} and save.",
        filename=f"{name}.xlsx",
        input=files.xlsx({sheet: rows}),
        gold=files.xlsx({sheet: gold}),
        metric="compare_table",
        options={"rules": [DATA_RULE]},
        expert=[*goto(f"C{r}"), typed(f"{value}\n"), SAVE],
    )


def _product_column(rng: random.Random) -> GenTask:
    name, sheet = _book(rng)
    n = rng.randint(3, 6)
    rows = table(rng, n, ["Item", "Price", "Qty"], high=20)
    gold = [[*rows[0], "Total"]] + [[*r, r[1] * r[2]] for r in rows[1:]]
    text = "Total\n" + "".join(f"=B{i}*C{i}\n" for i in range(2, n + 2))
    return GenTask(
        family="calc-product-column",
        app="calc",
        instruction=f"In {name}.xlsx, add a column D headed 'Total' holding Price times Qty "
        f"for every row (D2:D{n + 1}), as formulas, and save.",
        filename=f"{name}.xlsx",
        input=files.xlsx({sheet: rows}),
        gold=files.xlsx({sheet: gold}),
        metric="compare_table",
        options={"rules": [DATA_RULE]},
        expert=[*goto("D1"), typed(text), SAVE],
    )


def _bold_header(rng: random.Random) -> GenTask:
    name, sheet = _book(rng)
    headers = ["Name", *rng.sample(["Q1", "Q2", "Q3", "Q4", "Total"], rng.randint(2, 4))]
    rows = table(rng, rng.randint(3, 7), headers)
    last = chr(ord("A") + len(headers) - 1)
    style = {"type": "style", "sheet_idx0": "RI0", "sheet_idx1": "EI0", "props": ["font_bold"]}
    return GenTask(
        family="calc-bold-header",
        app="calc",
        instruction=f"In {name}.xlsx, make the header row (A1:{last}1) bold and save.",
        filename=f"{name}.xlsx",
        input=files.xlsx({sheet: rows}),
        gold=files.xlsx({sheet: rows}, bold_rows={sheet: [1]}),
        metric="compare_table",
        options={"rules": [DATA_RULE, style]},
        expert=[*goto(f"A1:{last}1"), "pyautogui.hotkey('ctrl', 'b')", SAVE],
    )


def _delete_row(rng: random.Random) -> GenTask:
    name, sheet = _book(rng)
    n = rng.randint(4, 8)
    rows = table(rng, n, ["Name", "Score"])
    r = rng.randint(2, n + 1)
    who = rows[r - 1][0]
    gold = [row for i, row in enumerate(rows, 1) if i != r]
    return GenTask(
        family="calc-delete-row",
        app="calc",
        instruction=f"In {name}.xlsx, delete the whole row of {who} (row {r}) so the rows "
        "below move up, and save.",
        filename=f"{name}.xlsx",
        input=files.xlsx({sheet: rows}),
        gold=files.xlsx({sheet: gold}),
        metric="compare_table",
        options={"rules": [DATA_RULE]},
        expert=[
            *goto(f"A{r}"),
            "pyautogui.hotkey('shift', 'space')",
            "pyautogui.hotkey('ctrl', '-')",
            SAVE,
        ],
    )


def _clear_cell(rng: random.Random) -> GenTask:
    name, sheet = _book(rng)
    n = rng.randint(3, 8)
    rows = table(rng, n, ["Item", "Stock", "Price"])
    r, c = rng.randint(2, n + 1), rng.choice([2, 3])
    gold = [list(row) for row in rows]
    gold[r - 1][c - 1] = None
    cell = f"{'ABC'[c - 1]}{r}"
    return GenTask(
        family="calc-clear-cell",
        app="calc",
        instruction=f"In {name}.xlsx, clear the value in cell {cell} (leave it empty) and save.",
        filename=f"{name}.xlsx",
        input=files.xlsx({sheet: rows}),
        gold=files.xlsx({sheet: gold}),
        metric="compare_table",
        options={"rules": [DATA_RULE]},
        expert=[*goto(cell), "pyautogui.press('delete')", SAVE],
    )


def _infeasible(rng: random.Random) -> GenTask:
    name, sheet = _book(rng)
    rows = table(rng, rng.randint(3, 6), ["Name", "Score"])
    ask = rng.choice(
        [
            "enable the Copilot add-in of Microsoft Excel for this workbook",
            "sync this workbook to the team's SharePoint site",
            "record a VBA macro in Microsoft Excel that emails this sheet every morning",
        ]
    )
    return GenTask(
        family="calc-infeasible",
        app="calc",
        instruction=f"In {name}.xlsx, {ask}.",
        filename=f"{name}.xlsx",
        input=files.xlsx({sheet: rows}),
        gold=None,
        metric="infeasible",
        expert=["FAIL"],
    )


FAMILIES = [
    Family("calc-sum", "calc", "train", _aggregate("SUM", "total")),
    Family("calc-max", "calc", "train", _aggregate("MAX", "largest value")),
    Family("calc-average", "calc", "test", _aggregate("AVERAGE", "average")),
    Family("calc-min", "calc", "test", _aggregate("MIN", "smallest value")),
    Family("calc-fill-value", "calc", "train", _fill_value),
    Family("calc-product-column", "calc", "train", _product_column),
    Family("calc-bold-header", "calc", "test", _bold_header),
    Family("calc-delete-row", "calc", "train", _delete_row),
    Family("calc-clear-cell", "calc", "test", _clear_cell),
    Family("calc-infeasible", "calc", "train", _infeasible),
]
