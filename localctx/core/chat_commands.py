"""In-chat commands, as Ollama's REPL has them (``/system``, ``/file``, ``/set temp 0.7``, ``/show``,
``/model``, ``/bye``): a typed line parsed and checked without a model, so that ``localctx chat`` and
the TUI's command palette mean the same thing by the same words.

Sampling names are llama.cpp's flags without the dashes (``temp``, ``top-k``, ``dry-base``, ``seed``)
and a value is checked by the same range check as the flag (core.flags.check_sampling_values).
"""

from __future__ import annotations

from dataclasses import dataclass

from localctx.core.flags import SAMPLING_FIELDS, check_sampling_values
from localctx.errors import SettingsError

#: every command and what it does, in the order ``/help`` lists them
COMMANDS: tuple[tuple[str, str], ...] = (
    ("/help", "this help"),
    ("/system TEXT", "the system prompt for the next turns (alone: show it)"),
    ("/file PATH", "add a document to this chat, read as --file reads it"),
    ("/set NAME VALUE", "a sampling setting, e.g. /set temp 0.7 (alone: lists them)"),
    ("/show", "the plan, the settings in effect and the budget"),
    ("/model", "the model that is loaded"),
    ("/tokens", "where the context goes and the last turn's numbers"),
    ("/clear", "forget the history; documents stay, the old session is saved"),
    ("/save [PATH]", "write the conversation as Markdown"),
    ("/bye", "leave (also /quit, /exit; Ctrl-D or Ctrl-C at the prompt)"),
)
LEAVE = ("/bye", "/quit", "/exit", "/q")
NAMES = tuple(c.split()[0] for c, _ in COMMANDS) + LEAVE[1:]

#: what ``/set`` takes: llama.cpp's flag names -> the SamplingSettings field (``seed`` is a sampling
#: field too: a chat's replies can be made repeatable without reloading the model)
SET_NAMES: dict[str, str] = {**{k.replace("_", "-"): v for k, v in SAMPLING_FIELDS.items()}, "seed": "seed"}
_WHOLE = frozenset({"top_k", "repeat_last_n", "dry_allowed_length", "dry_penalty_last_n", "seed"})
#: llama.cpp's seed is a 32-bit unsigned number; -1 (its LLAMA_DEFAULT_SEED) draws a random one
SEED_RANGE = (-1, 2**32 - 1)


@dataclass(frozen=True)
class ChatCommand:
    """One typed command: ``name`` as typed (``/set``), ``arg`` the rest of the line, stripped."""

    name: str
    arg: str = ""

    @property
    def leaves(self) -> bool:
        return self.name in LEAVE

    @property
    def known(self) -> bool:
        return self.name in NAMES


def parse(text: str) -> ChatCommand:
    name, _, arg = text.strip().partition(" ")
    return ChatCommand(name.lower(), arg.strip())


def help_text() -> str:
    width = max(len(c) for c, _ in COMMANDS) + 2
    return "commands:\n" + "\n".join(f"  {c:<{width}}{what}" for c, what in COMMANDS)


def unknown(cmd: ChatCommand) -> str:
    return f"unknown command {cmd.name}; /help lists them"


@dataclass(frozen=True)
class SamplingChange:
    """``/set NAME VALUE`` parsed: the name as llama.cpp spells it, the SamplingSettings field, the value."""

    name: str
    field: str
    value: float | int


def parse_set(arg: str) -> SamplingChange:
    """``temp 0.7`` -> SamplingChange("temp", "temperature", 0.7); SettingsError in one line otherwise
    (an unknown name lists the known ones; a value out of range says the range, as the flag does)."""
    words = arg.split()
    if len(words) != 2:
        raise SettingsError(f"/set takes a name and a value (got '{arg}')", "e.g. /set temp 0.7; /set alone lists them")
    raw_name, raw_value = words
    name = raw_name.lstrip("-").lower().replace("_", "-")
    name = {"temperature": "temp"}.get(name, name)
    field = SET_NAMES.get(name)
    if field is None:
        raise SettingsError(f"/set: unknown setting '{raw_name}'", f"use one of: {', '.join(SET_NAMES)}")
    value: float | int
    try:
        value = int(raw_value) if field in _WHOLE else float(raw_value)
    except ValueError:
        kind = "a whole number" if field in _WHOLE else "a number"
        raise SettingsError(f"/set {name} takes {kind} (got '{raw_value}')") from None
    if field == "seed":
        low, high = SEED_RANGE
        if not low <= value <= high:
            raise SettingsError(f"/set seed must be between {low} and {high} (got {value})", "-1 draws a random seed")
    else:
        check_sampling_values({field: value})
    return SamplingChange(name, field, value)
