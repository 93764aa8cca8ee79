"""ScienceWorld text for prompts and documents: the action templates with their
explanations, the action notes, the world overview, and the documents built from the task
table (train-split examples only, so no test leakage)."""

from __future__ import annotations

from typing import Any

from lbi_icl.data import Document
from lbi_icl.envs.scienceworld.table import ENV_NAME, _task_catalog

# The simulator's action templates (OBJ = an object name as it appears in observations),
# each with a short explanation for prompts and documentation. A test checks this list
# against the one the installed simulator reports.
ACTION_TEMPLATES: dict[str, str] = {
    "open OBJ": "open a container or a door",
    "close OBJ": "close a container or a door",
    "activate OBJ": "turn on a device (stove, sink, lighter, ...)",
    "deactivate OBJ": "turn off a device",
    "connect OBJ to OBJ": "connect two electrical terminals or wires",
    "disconnect OBJ": "remove all connections of an electrical component",
    "use OBJ on OBJ": "use a tool on an object (e.g. a thermometer on a substance)",
    "look around": "describe the current room (a free action)",
    "look at OBJ": "describe an object in detail",
    "look in OBJ": "describe the contents of a container",
    "read OBJ": "read a book, note or recipe",
    "move OBJ to OBJ": "put an object into or onto a container",
    "pick up OBJ": "move an object into the inventory",
    "put down OBJ": "drop an inventory object in the current room",
    "pour OBJ in OBJ": "pour a liquid or the contents of a container into another container",
    "dunk OBJ in OBJ": "dunk a container into a liquid",
    "mix OBJ": "chemically mix the contents of a container",
    "go OBJ": "move to an adjacent room through an open door (e.g. 'go kitchen')",
    "teleport to OBJ": "move directly to a room (only with the teleportAction simplification)",
    "eat OBJ": "eat a food",
    "flush OBJ": "flush a toilet",
    "focus on OBJ": "declare the object the task is about (irreversible: focusing on the "
    "wrong object fails the task)",
    "wait": "let 10 time steps pass",
    "wait1": "let 1 time step pass",
    "task": "repeat the task description",
    "inventory": "list what the agent carries",
    "reset task": "restart the task from the beginning",
}

_ACTION_NOTES = (
    "Write exactly one action per turn as plain text, using object names as they appear in "
    "the observation (e.g. 'open door to kitchen', 'go to kitchen', 'pick up thermometer', "
    "'move metal pot to stove', 'focus on water'). When a name is ambiguous the environment "
    "answers 'Ambiguous request' with a numbered list: reply with the number alone (e.g. "
    "'0'). Time passes only through actions; 'wait' lets 10 steps pass. Focusing on the "
    "wrong object ends the task as a failure."
)

_WORLD_TEXT = (
    "ScienceWorld is a text-based simulation of a house and its surroundings in which an "
    "agent carries out elementary-school science experiments. Rooms: hallway, kitchen, "
    "bathroom, bedroom, living room, art studio, workshop, greenhouse, foundry and outside; "
    "doors between rooms start closed and must be opened before going through. The "
    "simulation models thermodynamics (heating on a stove, blast furnace or with a lighter; "
    "cooling in a fridge or freezer; states of matter change at melting and boiling points), "
    "electrical circuits (batteries, solar panels, wires, light bulbs, motors, buzzers; "
    "conductors and insulators), chemistry (mixing substances and paints in a container), "
    "biology (plants grow from seeds in flower pots with water and soil, need bees to "
    "pollinate; animals go through life stages; Mendelian inheritance of traits), and "
    "friction on inclined planes. Tools: thermometer, stopwatch, measuring cup, containers "
    "(pots, cups, jars, boxes). Scores run from 0 to 100: partial credit is given for "
    "subgoals, 100 means the task is complete, and a negative score means it failed "
    "(usually by focusing on the wrong object)."
)


# --------------------------------------------------------------------------- task table


def action_space_text() -> str:
    """The action templates with their explanations, then the notes on how to write one."""
    lines = ["Actions (OBJ is an object name from the observation):"]
    lines += [f"- {tpl}: {desc}" for tpl, desc in ACTION_TEMPLATES.items()]
    return "\n".join([*lines, "", _ACTION_NOTES])


def documents(table: dict[str, Any], task_types: list[str]) -> list[Document]:
    """The world overview, the action templates, and one document per task type with its
    official title and (train-split only, so no test leakage) example task descriptions.
    `table` is the task table's `tasks` mapping."""
    docs = [
        Document(
            id="scienceworld/world",
            env=ENV_NAME,
            title="ScienceWorld: the world",
            text=_WORLD_TEXT,
            source={"kind": "overview"},
        ),
        Document(
            id="scienceworld/actions",
            env=ENV_NAME,
            title="ScienceWorld: actions",
            text=action_space_text(),
            source={"kind": "action_templates"},
        ),
    ]
    catalog = _task_catalog()
    for task_name in task_types:
        entry = table[task_name]
        meta = catalog.get(task_name, {})
        examples = list(dict.fromkeys(entry["descriptions"][v] for v in entry["train"]))
        title = meta.get("title", task_name)
        topic = meta.get("topic", "")
        text = (
            f"Task type '{task_name}' ({topic}: {title}), {entry['max_variations']} "
            f"variations. Example task descriptions:\n" + "\n".join(f"- {d}" for d in examples[:3])
        )
        docs.append(
            Document(
                id=f"scienceworld/task/{task_name}",
                env=ENV_NAME,
                title=f"ScienceWorld task: {title}",
                text=text,
                source={"kind": "task_description", "task_type": task_name, **meta},
            )
        )
    return docs
