"""Screenshots as image parts (issue 26 item 2), without a browser: the LLM layer sends a
message's images over the OpenAI wire (`image_url` data URLs) and the Anthropic wire
(base64 `image` blocks), checked against the loopback stub servers that record requests;
text-only messages and their cache keys are unchanged; the agent loop sends an env's
`visual_observation()` to a model that takes images and the text observation (tree
included) to one that does not; the episode's goal from the env becomes the instruction."""

from __future__ import annotations

import base64
import io

import pytest
from llm_servers import AnthropicStubServer, OpenAIStubServer, clear_llm_env

from lbi_icl.agent import AgentConfig, make_policy, run_episode
from lbi_icl.data import Task
from lbi_icl.envs.base import StepResult
from lbi_icl.llm import GenerationParams, Message, make_llm
from lbi_icl.llm.base import ImagePart, accepts_images
from lbi_icl.llm.cache import cache_key
from lbi_icl.retrieval import make_retriever


def _png(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _no_real_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


def test_openai_wire_sends_image_url_parts() -> None:
    png = _png()
    msgs = [
        Message(role="system", content="look"),
        Message(role="user", content="what is here?", images=(ImagePart(data=png),)),
    ]
    with OpenAIStubServer(["a red box"]) as srv:
        llm = make_llm("openai:gpt-4o-mini", base_url=srv.base_url)
        assert llm.complete(msgs, GenerationParams(max_tokens=5)).text == "a red box"
        body = srv.requests[0]
    assert body["messages"][0] == {"role": "system", "content": "look"}
    text, image = body["messages"][1]["content"]
    assert text == {"type": "text", "text": "what is here?"}
    url = image["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png


def test_anthropic_wire_sends_base64_image_blocks() -> None:
    png = _png((0, 0, 255))
    msg = Message(role="user", content="and here?", images=(ImagePart(data=png),))
    with AnthropicStubServer(["blue"]) as srv:
        llm = make_llm("anthropic:claude-3-5-haiku-latest", base_url=srv.base_url)
        assert llm.complete([msg]).text == "blue"
        body = srv.requests[0]
    blocks = body["messages"][0]["content"]
    assert blocks[0]["type"] == "text" and blocks[0]["text"] == "and here?"
    assert blocks[-1]["type"] == "image"
    assert blocks[-1]["source"]["media_type"] == "image/png"
    assert base64.b64decode(blocks[-1]["source"]["data"]) == png


def test_text_only_messages_and_cache_keys_are_as_before() -> None:
    plain = Message(role="user", content="hi")
    assert plain.model_dump(mode="json") == {"role": "user", "content": "hi"}
    a = Message(role="user", content="hi", images=(ImagePart(data=_png()),))
    b = Message(role="user", content="hi", images=(ImagePart(data=_png((1, 2, 3))),))
    key = cache_key("openai", "m", [plain], GenerationParams())
    assert key == cache_key("openai", "m", [Message(role="user", content="hi")], GenerationParams())
    # an image is part of the key (by its sha256), so different screenshots never collide
    keys = {cache_key("openai", "m", [m], GenerationParams()) for m in (plain, a, b)}
    assert len(keys) == 3
    assert "sha256:" in str(a.model_dump(mode="json")["images"][0]["data"])


@pytest.mark.parametrize(
    ("spec", "takes"),
    [
        ("openai:gpt-4o-mini", True),
        ("anthropic:claude-3-5-sonnet-latest", True),
        ("openai:Qwen2.5-VL-7B-Instruct", True),
        ("openai:qwen2.5-coder-1.5b", False),
        ("openai:o3-mini", False),
        ("scripted:answers.jsonl", False),
    ],
)
def test_which_models_take_images(spec: str, takes: bool) -> None:
    assert accepts_images(spec) is takes


class PageEnv:
    """A one-page env with a visual observation: the goal is only known after reset."""

    name = "page"

    def __init__(self, shot: str) -> None:
        self.shot = shot
        self.goal = ""

    def tasks(self, split: str) -> list[Task]:
        return [Task(id="p-1", env=self.name, instruction="Press a button.", split=split)]

    def reset(self, task: Task) -> str:
        self.goal = "Press the OK button."
        return self._obs()

    def _obs(self) -> str:
        return f"Goal: {self.goal}\nAccessibility tree:\n[7] button 'OK'"

    def episode_goal(self) -> str:
        return self.goal

    def visual_observation(self) -> dict:
        return {"text": f"Goal: {self.goal}\nScreenshot: attached.", "images": [self.shot]}

    def step(self, action: str) -> StepResult:
        ok = action == 'click("7")'
        return StepResult(
            observation=self._obs(), reward=float(ok), done=True, info={"success": ok}
        )

    def action_space_text(self) -> str:
        return 'click("bid")'

    def valid_actions(self) -> None:
        return None

    def documents(self) -> list:
        return []

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> None:
        return None

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("model", "sees_image"), [("gpt-4o-mini", True), ("stub-model", False)])
def test_the_loop_sends_screenshots_to_vision_models_and_the_tree_to_others(
    tmp_path, model: str, sees_image: bool
) -> None:
    shot = tmp_path / "step-000.png"
    shot.write_bytes(_png())
    env = PageEnv(str(shot))
    steps = []
    with OpenAIStubServer(['Reason: it is the OK button.\nAction: click("7")']) as srv:
        llm = make_llm(f"openai:{model}", base_url=srv.base_url)
        result = run_episode(
            env,
            env.tasks("test")[0],
            make_policy("llm", llm=llm),
            make_retriever("none", None),
            config=AgentConfig(max_steps=2),
            seed=0,
            on_step=steps.append,
        )
        body = srv.requests[0]
    assert result.success
    user = body["messages"][-1]["content"]
    if sees_image:
        text, image = user
        assert "Screenshot: attached." in text["text"] and "[7] button" not in text["text"]
        assert base64.b64decode(image["image_url"]["url"].split(",", 1)[1]) == shot.read_bytes()
        assert steps[0].images == [str(shot)]
    else:
        assert isinstance(user, str) and "[7] button 'OK'" in user
        assert steps[0].images == []
    # the env's own goal is the episode's instruction, the task's text kept as description
    assert "Press the OK button." in (text["text"] if sees_image else user)
    assert result.trajectory is not None
    assert result.trajectory.instruction == "Press the OK button."


def test_images_off_sends_the_text_to_a_vision_model(tmp_path) -> None:
    shot = tmp_path / "s.png"
    shot.write_bytes(_png())
    env = PageEnv(str(shot))
    with OpenAIStubServer(['Action: click("7")']) as srv:
        llm = make_llm("openai:gpt-4o", base_url=srv.base_url)
        run_episode(
            env,
            env.tasks("test")[0],
            make_policy("llm", llm=llm),
            make_retriever("none", None),
            config=AgentConfig(max_steps=1, images="off"),
            seed=0,
        )
        assert isinstance(srv.requests[0]["messages"][-1]["content"], str)
