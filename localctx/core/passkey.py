"""Passkey retrieval prompts and scoring (pure: a tokenizer function is passed in).

The test follows llama.cpp's ``llama-passkey`` texts: a 5-digit key hidden in repeated filler, then
asked for.  The prompt is assembled from token lists rather than text so the key sits at an exact
token position: ``depth`` 0.0 puts it right after the instruction, 1.0 right before the question,
and the filler is cut to the token so the whole prompt has exactly the requested length.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: llama.cpp examples/passkey texts (the established harness, so results compare with it)
INSTRUCTION = (
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there."
)
FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
NEEDLE = " The pass key is {key}. Remember it. {key} is the pass key."
QUESTION = " What is the pass key? The pass key is"

KEY_MIN, KEY_MAX = 10000, 99999  # random 5-digit keys
ANSWER_TOKENS = 16  # room left in the context for the answer (llama-passkey generates 16)

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class PasskeyPrompt:
    """One trial's prompt; positions are token indices into ``tokens``."""

    tokens: list[int]
    key: int
    depth: float  # the depth asked for, 0..1 across the filler
    needle_pos: int  # index of the needle's first token
    needle_len: int
    haystack_start: int  # first filler token (after BOS + instruction)
    haystack_len: int  # filler + needle tokens

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def actual_depth(self) -> float:
        """Where the needle really is, as a fraction of the filler it sits in."""
        room = self.haystack_len - self.needle_len
        return (self.needle_pos - self.haystack_start) / room if room > 0 else 0.0


def needle_text(key: int) -> str:
    return NEEDLE.format(key=key)


def random_keys(n: int, seed: int | str) -> list[int]:
    """``n`` reproducible 5-digit keys for one seed."""
    rng = random.Random(seed)
    return [rng.randint(KEY_MIN, KEY_MAX) for _ in range(n)]


def needle_offset(depth: float, haystack_len: int, needle_len: int) -> int:
    """Token offset of the needle inside the haystack for a depth in [0, 1]."""
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be within 0..1, got {depth}")
    return round(depth * max(0, haystack_len - needle_len))


def build_prompt(
    tokenize: Tokenize,
    n_tokens: int,
    depth: float,
    key: int,
    *,
    bos: Sequence[int] = (),
) -> PasskeyPrompt:
    """A prompt of exactly ``n_tokens`` tokens with the key's needle at ``depth`` of the filler.

    ``tokenize`` turns text into tokens without BOS; ``bos`` is prepended (empty when the model
    adds none).  Raises ValueError when ``n_tokens`` cannot hold instruction, needle and question.
    """
    head = list(bos) + tokenize(INSTRUCTION)
    needle = tokenize(needle_text(key))
    tail = tokenize(QUESTION)
    filler = tokenize(FILLER)
    if not filler:
        raise ValueError("the filler text tokenizes to nothing")
    n_fill = n_tokens - len(head) - len(needle) - len(tail)
    if n_fill < 0:
        need = len(head) + len(needle) + len(tail)
        raise ValueError(f"a passkey prompt needs at least {need} tokens, asked for {n_tokens}")
    reps = n_fill // len(filler) + 1
    stream = (filler * reps)[:n_fill]
    at = needle_offset(depth, n_fill + len(needle), len(needle))
    tokens = head + stream[:at] + needle + stream[at:] + tail
    return PasskeyPrompt(
        tokens=tokens, key=key, depth=depth, needle_pos=len(head) + at, needle_len=len(needle),
        haystack_start=len(head), haystack_len=n_fill + len(needle),
    )


def prompt_tokens_for_context(n_ctx: int, answer_tokens: int = ANSWER_TOKENS) -> int:
    """Prompt length that fills a context of ``n_ctx`` and still leaves room for the answer."""
    return n_ctx - answer_tokens


_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+")


def parse_answer(text: str) -> int | None:
    """The first number in the model's continuation ("12,345" read as 12345), or None."""
    m = _NUMBER.search(text)
    return int(m.group(0).replace(",", "")) if m else None


def is_correct(text: str, key: int) -> bool:
    return parse_answer(text) == key


@dataclass(frozen=True)
class CellScore:
    """Accuracy of one (method, length, depth) cell."""

    correct: int
    trials: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.trials if self.trials else None

    def label(self) -> str:
        return f"{self.correct}/{self.trials}" if self.trials else "-"


def parse_depths(spec: str) -> list[float]:
    """'0.1,0.5,90%' -> [0.1, 0.5, 0.9]; raises ValueError on anything outside 0..1."""
    out: list[float] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            v = float(part[:-1]) / 100 if part.endswith("%") else float(part)
        except ValueError:
            raise ValueError(f"'{part}' is not a depth (use fractions like 0.25 or percentages like 25%)") from None
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"depth {part} is outside 0..1")
        out.append(v)
    if not out:
        raise ValueError("no depths given")
    return out


__all__ = [
    "ANSWER_TOKENS", "CellScore", "FILLER", "INSTRUCTION", "NEEDLE", "PasskeyPrompt", "QUESTION",
    "build_prompt", "is_correct", "needle_offset", "needle_text", "parse_answer", "parse_depths",
    "prompt_tokens_for_context", "random_keys"
]
