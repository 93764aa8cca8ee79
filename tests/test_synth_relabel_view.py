"""The LLM relabeler and the committee judge what a window's actions did, so they see web
observations without the page's own goal (synth/relabel_view.py)."""

from __future__ import annotations

from lbi_icl.data import Step, Trajectory
from lbi_icl.envs.browsergym.text import without_goal
from lbi_icl.llm import ScriptedLLM
from lbi_icl.llm.base import Message
from lbi_icl.synth import LLMRelabeler
from lbi_icl.synth.filters import Committee
from lbi_icl.synth.relabel_view import view_name

GOAL = 'Enter "Agustina" into the text field and press Submit.'


def page(tree: str, goal: str = GOAL) -> str:
    return (
        f"Goal: {goal}\nURL: miniwob://enter-text.html\nTitle: Enter Text Task\n"
        f"Accessibility tree:\n{tree}"
    )


def web_window(env: str) -> Trajectory:
    steps = [Step(observation=page("[14] textbox ''"), action='fill("14", "Kasie")')]
    return Trajectory(
        id="p", env=env, instruction="parent task", steps=steps,
        final_observation=page("[14] textbox 'Kasie'"),
    )  # fmt: skip


def recording(answer: str) -> tuple[ScriptedLLM, list[str]]:
    seen: list[str] = []

    def reply(messages: list[Message]) -> str:
        seen.append("\n".join(str(m.content) for m in messages))
        return answer

    return ScriptedLLM(reply), seen


def test_without_goal_drops_the_goal_even_over_several_lines() -> None:
    assert without_goal(page("[12] button 'OK'")) == (
        "URL: miniwob://enter-text.html\nTitle: Enter Text Task\n"
        "Accessibility tree:\n[12] button 'OK'"
    )
    long_goal = page("[3] link 'x'", goal="Order a laptop.\nThen email the receipt.")
    assert without_goal(long_goal).startswith("URL: ") and "receipt" not in without_goal(long_goal)
    for other in ("You see a red ball.", "Goal: a line and no URL line", ""):
        assert without_goal(other) == other


def test_llm_relabeler_and_committee_do_not_see_the_web_page_goal() -> None:
    llm, seen = recording('Type "Kasie" into the text field.')
    out = LLMRelabeler(llm).relabel(web_window("miniwob"), 0, 1)
    assert [w.instruction for w in out] == ['Type "Kasie" into the text field.'] * 2
    assert len(seen) == 2  # abstract + summarize
    for prompt in seen:
        assert GOAL not in prompt and "URL: miniwob://enter-text.html" in prompt
        assert 'fill("14", "Kasie")' in prompt and "[14] textbox 'Kasie'" in prompt
    judge, judged = recording('{"aligned": true, "coherent": true, "natural": true, '
                              '"reasonable": true}')  # fmt: skip
    example = web_window("webarena").model_copy(update={"instruction": "Type Kasie."})
    assert Committee([judge]).judge(example).keep
    assert GOAL not in judged[0] and "Type Kasie." in judged[0]


def test_other_envs_and_hide_goal_false_are_shown_as_observed() -> None:
    llm, seen = recording("Do it.")
    LLMRelabeler(llm, kinds=("abstract",)).relabel(web_window("scienceworld"), 0, 1)
    assert GOAL in seen[0]
    LLMRelabeler(llm, kinds=("abstract",), hide_goal=False).relabel(web_window("miniwob"), 0, 1)
    assert GOAL in seen[1]  # the earlier behaviour, kept for comparisons
    assert view_name("miniwob") == "task goal hidden"
    assert view_name("scienceworld") == "as observed"
