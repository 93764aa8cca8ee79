"""Seeded synthetic corpus for the speed/scale benchmark: N observation–action pairs grouped
into trajectories that look, to an index, like text-environment data.

What matters for index cost is reproduced on purpose: observation length (50–200 words), a
Zipf-distributed vocabulary (a few very frequent words, a long tail, so BM25 posting lists
have realistic lengths), short verb–object actions that name objects seen in the
observation, one instruction per trajectory drawn from task templates (many trajectories
share a task, as after backward construction), and repeated observations (a shared pool of
"room descriptions" seen by many trajectories, plus "nothing happened" repeats inside a
trajectory) so "embed unique texts" is a real saving. The same (spec, seed) always gives
the same corpus, byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.data import Step, Trajectory
from lbi_icl.data.jsonl import atomic_write_text, write_jsonl


def _words(text: str) -> list[str]:
    return text.split()


FUNCTION_WORDS = _words(
    "the a you see is in on of to and it there an with this at from here are room can "
    "your which by for that be as or not near left right forward behind under into"
)
NOUNS = _words(
    "table door key ball box drawer cupboard stove sink pot cup bowl chair bed lamp window "
    "shelf counter fridge freezer oven thermometer beaker flask jar bottle seed plant pot "
    "soil water apple banana orange knife fork spoon plate book paper pencil wire battery "
    "bulb switch motor magnet coin wallet bag hallway kitchen bedroom bathroom workshop "
    "greenhouse garden foundry basin tap painting mirror curtain carpet rug sofa desk "
    "computer screen keyboard mouse button lever chest crate barrel rope ladder bucket"
)
ADJECTIVES = _words(
    "red blue green yellow purple grey white black small large open closed empty full hot "
    "cold wooden metal glass broken old new clean dirty"
)
ROOMS = _words(
    "kitchen bedroom bathroom workshop greenhouse hallway living room art studio foundry "
    "outside garden lab office garage cellar attic"
)
VERBS_UNARY = ("pick up", "open", "close", "examine", "activate", "deactivate", "eat", "drop")
VERBS_BINARY = ("move", "put", "pour", "connect", "use", "mix")
PREP_BINARY = {
    "move": "to",
    "put": "in",
    "pour": "into",
    "connect": "to",
    "use": "on",
    "mix": "with",
}
TASK_TEMPLATES = (
    "Your task is to {v} the {adj} {obj} in the {room}.",
    "Find the {obj} and {v} it.",
    "Go to the {room}, then {v} the {adj} {obj}.",
    "{V} the {obj} that is next to the {obj2}.",
    "Your task is to boil {obj}. First, focus on the substance in the {room}.",
    "Put the {adj} {obj} on the {obj2} in the {room}.",
)
_SYLLABLES = _words(
    "ka ri to mu sen da lo pe vin qua zor el an ti ru bo sha ne lix tor mi gal fen oth "
    "ur is ko dra pil wex nu ya"
)


class CorpusSpec(BaseModel):
    """Everything that determines the corpus; two equal specs give identical output."""

    model_config = ConfigDict(extra="forbid")

    n_pairs: int = Field(gt=0)
    seed: int = 0
    vocab_size: int = Field(default=30_000, ge=500)
    zipf_s: float = Field(default=1.07, gt=1.0)
    obs_words: tuple[int, int] = (50, 200)
    traj_len: tuple[int, int] = (4, 20)  # steps per trajectory, uniform inclusive
    pool_repeat_rate: float = 0.15  # step observation drawn from the shared pool
    stutter_rate: float = 0.05  # step observation equals the previous one ("nothing happens")
    tasks_per_traj: float = 0.2  # distinct task templates filled ≈ this × trajectories
    env: str = "synthetic"

    def cache_name(self) -> str:
        """A file name that changes whenever any field does."""
        import hashlib

        digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]
        return f"corpus-{self.n_pairs}-s{self.seed}-{digest}.jsonl"


def _pseudo_words(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    """Deterministic pronounceable filler words for the vocabulary's long tail."""
    words: list[str] = []
    while len(words) < n:
        w = "".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4)))
        if w not in taken:
            taken.add(w)
            words.append(w)
    return words


class _Vocab:
    """Words ranked by frequency: function words first, then env nouns/adjectives/rooms,
    then the pseudo-word tail; sampling follows p(rank) ∝ 1 / rank**s."""

    def __init__(self, spec: CorpusSpec, rng: random.Random) -> None:
        head = list(dict.fromkeys(FUNCTION_WORDS + NOUNS + ADJECTIVES + ROOMS))
        tail = _pseudo_words(rng, spec.vocab_size - len(head), set(head))
        self.words = np.array(head + tail, dtype=object)
        ranks = np.arange(1, len(self.words) + 1, dtype=np.float64)
        p = ranks**-spec.zipf_s
        self.cdf = np.cumsum(p / p.sum())
        # Things actions and instructions name: the real nouns weigh as much as 1,000
        # pseudo-word objects from the tail.
        self.objects = NOUNS * 12 + tail[:1000]

    def sample(self, nrng: np.random.Generator, n: int) -> list[str]:
        idx = np.searchsorted(self.cdf, nrng.random(n), side="right")
        return self.words[np.minimum(idx, len(self.words) - 1)].tolist()


class _Gen:
    """Scalar draws from `random.Random` (fast), bulk word draws from numpy."""

    def __init__(self, spec: CorpusSpec) -> None:
        self.spec = spec
        self.r = random.Random(spec.seed)
        self.n = np.random.default_rng(spec.seed)
        self.vocab = _Vocab(spec, random.Random(spec.seed + 1_000_003))

    def observation(self) -> tuple[str, str]:
        """One observation text and an object it mentions (for a plausible action)."""
        r, objects = self.r, self.vocab.objects
        lo, hi = self.spec.obs_words
        n = r.randint(lo, hi)
        room = r.choice(ROOMS)
        objs = (r.choice(objects), r.choice(objects), r.choice(objects))
        header = f"This room is called the {room}. In it, you see: a {objs[0]}, a {objs[1]}."
        body = self.vocab.sample(self.n, max(n - 19, 1))
        # Break the body into sentences of 6–14 words so it reads like env output.
        parts: list[str] = []
        i = 0
        while i < len(body):
            k = r.randint(6, 14)
            sent = " ".join(body[i : i + k])
            parts.append(sent[:1].upper() + sent[1:] + ".")
            i += k
        return f"{header} {' '.join(parts)} You also see a {objs[2]}.", r.choice(objs)

    def action(self, obj: str) -> str:
        r = self.r
        x = r.random()
        if x < 0.12:
            return f"go to {r.choice(ROOMS)}"
        if x < 0.18:
            return r.choice(("look around", "inventory", "wait", "look at " + obj))
        if x < 0.7:
            return f"{r.choice(VERBS_UNARY)} {obj}"
        verb = r.choice(VERBS_BINARY)
        return f"{verb} {obj} {PREP_BINARY[verb]} {r.choice(self.vocab.objects)}"

    def instruction(self, task_seed: int) -> str:
        """A pure function of the task seed, so trajectories of one task share their
        instruction text (as many examples of one task do in real data)."""
        t = random.Random(task_seed)
        v = t.choice(VERBS_UNARY)
        return t.choice(TASK_TEMPLATES).format(
            v=v,
            V=v.capitalize(),
            adj=t.choice(ADJECTIVES),
            obj=t.choice(self.vocab.objects),
            obj2=t.choice(self.vocab.objects),
            room=t.choice(ROOMS),
        )


def generate(spec: CorpusSpec) -> Iterator[Trajectory]:
    """Yield trajectories until exactly `spec.n_pairs` steps have been produced."""
    g = _Gen(spec)
    r = g.r
    mean_len = (spec.traj_len[0] + spec.traj_len[1]) / 2
    n_tasks = max(1, int(spec.n_pairs / mean_len * spec.tasks_per_traj))
    pool_size = max(8, spec.n_pairs // 50)
    pool: dict[int, tuple[str, str]] = {}  # filled lazily: pool slot -> (obs, object)
    kinds = ("expert", "backward", "rollout")
    produced = 0
    t = 0
    while produced < spec.n_pairs:
        n_steps = min(r.randint(*spec.traj_len), spec.n_pairs - produced)
        task = r.randrange(n_tasks)
        steps: list[Step] = []
        prev: tuple[str, str] | None = None
        for _ in range(n_steps):
            x = r.random()
            if prev is not None and x < spec.stutter_rate:
                obs, obj = prev
            elif x < spec.stutter_rate + spec.pool_repeat_rate:
                slot = r.randrange(pool_size)
                if slot not in pool:
                    pool[slot] = g.observation()
                obs, obj = pool[slot]
            else:
                obs, obj = g.observation()
            steps.append(Step(observation=obs, action=g.action(obj)))
            prev = (obs, obj)
        yield Trajectory(
            id=f"syn-{spec.seed}-{t:07d}",
            env=spec.env,
            instruction=g.instruction(spec.seed * 7_919 + task),
            steps=steps,
            final_observation=g.observation()[0],
            outcome="success" if r.random() < 0.8 else "failure",
            source={"kind": r.choice(kinds)},
            split="train",
            metadata={"task_id": f"task-{task:06d}"},
        )
        produced += n_steps
        t += 1


class Probe(BaseModel):
    """A corpus step kept aside while writing, to build near-duplicate queries from."""

    instruction: str
    observation: str
    prev_action: str | None
    pos: int
    task_id: str | None


def write_corpus(spec: CorpusSpec, path: Path, n_probes: int = 512) -> list[Probe]:
    """Write the corpus as trajectory JSONL (atomically) and return a seeded uniform sample
    of its steps (reservoir sampling, so one pass suffices)."""
    rng = random.Random(spec.seed + 17)
    probes: list[Probe] = []
    seen = 0

    def tee() -> Iterator[Trajectory]:
        nonlocal seen
        for traj in generate(spec):
            for pos, step in enumerate(traj.steps):
                seen += 1
                slot = len(probes) if len(probes) < n_probes else rng.randrange(seen)
                if slot < n_probes:
                    probe = Probe(
                        instruction=traj.instruction,
                        observation=step.observation,
                        prev_action=traj.steps[pos - 1].action if pos else None,
                        pos=pos,
                        task_id=traj.task_id,
                    )
                    if slot == len(probes):
                        probes.append(probe)
                    else:
                        probes[slot] = probe
            yield traj

    write_jsonl(path, tee())
    return probes


def cached_corpus(spec: CorpusSpec, cache_dir: Path) -> tuple[Path, list[Probe]]:
    """The corpus file for `spec` under `cache_dir` and its probes, generated once."""
    import json

    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / spec.cache_name()
    probe_path = path.with_suffix(".probes.json")
    if not (path.exists() and probe_path.exists()):
        probes = write_corpus(spec, path)
        atomic_write_text(probe_path, json.dumps([p.model_dump() for p in probes]))
    raw = json.loads(probe_path.read_text(encoding="utf-8"))
    return path, [Probe.model_validate(p) for p in raw]


def perturb(text: str, rng: random.Random, rate: float = 0.15) -> str:
    """A near-duplicate of `text`: each word replaced by a neighbour word with probability
    `rate` — what an agent sees when it revisits a state it has examples for."""
    words = text.split()
    n = len(words)
    return " ".join(words[rng.randrange(n)] if rng.random() < rate else w for w in words)
