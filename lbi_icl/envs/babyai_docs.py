"""BabyAI's documents (the input of self-instruct and the RAG baseline): hand-written
pages on the world, objects, actions, missions and observations, and one note per level."""

from __future__ import annotations

from collections.abc import Sequence

from lbi_icl.data import Document

ENV_NAME = "babyai"  # the env's registered name; `lbi_icl.envs.babyai` re-exports it


_LEVEL_NOTES: dict[str, str] = {
    "GoToRedBallGrey": "go to the red ball in a single room; the other objects are grey",
    "GoToRedBall": "go to the red ball in a single room among distractors of any color",
    "GoToObj": "go to the only object in a single room",
    "GoToLocal": "go to an object in a single room with several distractors",
    "GoToDoor": "go to a door of a given color; the room has several doors",
    "PickupLoc": "pick up an object, sometimes described by its location (on your left, "
    "in front of you)",
    "PickupDist": "pick up an object given only its type or color, among distractors",
    "PutNextLocal": "pick up one object and drop it next to another in a single room",
    "OpenDoor": "open a door of a given color, sometimes described by its location",
    "OpenRedDoor": "open the red door of the room",
    "UnlockLocal": "open a locked door: find the key of the door's color, pick it up, then "
    "toggle the door",
    "ActionObjDoor": "go to, pick up or open an object or door in a room with doors",
}

_GENERAL_DOCS: tuple[tuple[str, str], ...] = (
    (
        "The BabyAI world",
        "BabyAI is a grid world of square rooms separated by walls. Rooms connect through "
        "doors. The agent occupies one cell and faces one of four directions. It only sees "
        "a 7x7 square in front of it (itself at the middle of the bottom row) and cannot "
        "see through walls or closed doors. Each episode has a mission in simple English, "
        "such as 'go to the red ball' or 'open the yellow door'. An episode ends when the "
        "mission is achieved or after the level's step limit; finishing in fewer steps "
        "gives a higher reward.",
    ),
    (
        "Objects and colors",
        "Objects are balls, boxes and keys, in six colors: red, green, blue, purple, "
        "yellow and grey. Doors have a color too and are open, closed or locked. A locked "
        "door opens only when the agent toggles it while carrying the key of the same "
        "color. Objects block movement: the agent must go around them or pick them up. "
        "The agent carries at most one object at a time.",
    ),
    (
        "Actions",
        "Seven actions: 'turn left' and 'turn right' rotate the agent by 90 degrees; 'go "
        "forward' moves one cell ahead unless a wall, a closed door or an object is there; "
        "'pick up' takes the object in the cell in front; 'drop' puts the carried object "
        "in the empty cell in front; 'toggle' opens or closes the door in front (and "
        "unlocks it with the matching key); 'done' declares the mission finished.",
    ),
    (
        "Missions",
        "Missions combine four verbs: 'go to X' (stand in front of X, facing it), 'pick up "
        "X', 'open X' (a door) and 'put X next to Y' (drop X in a cell beside Y). X is "
        "described by color and type, 'the' when it is unique and 'a' when several match, "
        "sometimes with a location ('on your left', 'in front of you'). Missions can be "
        "chained with ', then', 'after you' and 'and', e.g. 'pick up the blue key, then "
        "open the blue door'.",
    ),
    (
        "Reading observations",
        "Each observation lists what the agent sees relative to itself, nearest first: 'a "
        "red key 3 steps forward and 2 steps right' is three cells ahead and two cells to "
        "the right; '1 step forward' is the cell right in front. Doors show their state "
        "('a locked blue door'). The nearest wall straight ahead, left and right is given, "
        "and the last line says what the agent carries.",
    ),
)


def babyai_documents(levels: Sequence[str]) -> list[Document]:
    """A short description of the world, objects, actions, missions and each level."""
    docs = [
        Document(
            id=f"babyai/doc-{i}",
            env=ENV_NAME,
            title=title,
            text=text,
            source={"kind": "handwritten"},
        )
        for i, (title, text) in enumerate(_GENERAL_DOCS)
    ]
    for level in levels:
        short = level.removeprefix("BabyAI-").rsplit("-v", 1)[0]
        note = _LEVEL_NOTES.get(short, "a BabyAI level; see the minigrid documentation")
        docs.append(
            Document(
                id=f"babyai/level/{level}",
                env=ENV_NAME,
                title=f"Level {level}",
                text=f"{level}: {note}.",
                source={"kind": "handwritten", "level": level},
            )
        )
    return docs
