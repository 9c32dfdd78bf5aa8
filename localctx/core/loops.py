"""Loop detection: has a reply started repeating itself?

Small models at low temperature fall into cycles ("The package is a tool. The package is a tool. ...")
that a sampler penalty makes rarer but cannot rule out.  The same test serves the reply guard (stop
the reply, keep what came before the repetition, say so) and the answer benchmark
(scripts/bench_answers.py counts replies that loop), so a "loop" means the same thing in both.

Two shapes are caught:

- a phrase of ``PHRASE_WORDS`` words occurring for the ``PHRASE_TIMES``-th time (sentences repeated,
  possibly with other text between the copies);
- a short unit repeated back to back at the end of the text with no spaces to count words by
  ("!!!!!!...", "1212121212...", "=-=-=-..."), at least ``CYCLE_CHARS`` characters of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: a loop: one phrase of this many words ...
PHRASE_WORDS = 6
#: ... occurring this many times in one reply
PHRASE_TIMES = 3
#: a back-to-back cycle of a unit up to this many characters ...
CYCLE_UNIT = 16
#: ... covering at least this many characters (and at least four copies of the unit)
CYCLE_CHARS = 48

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Loop:
    """Where a reply began to loop.  ``keep``: the length of the text before the repetition (what a
    guard keeps); ``span``: the repeated words or unit, for the message that says why it stopped."""

    keep: int
    span: str


def _norm(word: str) -> str:
    return word.strip(".,;:!?\"'()[]*`").lower()


def find_loop(text: str, words: int = PHRASE_WORDS, times: int = PHRASE_TIMES) -> Loop | None:
    """The first point where ``text`` loops, or None.  A phrase that occurs ``times`` times: ``keep`` is
    where its last copy starts (the copies before it stay, a sentence said twice is no loop yet).  A
    back-to-back cycle of a short unit at the end: ``keep`` is where the cycle's second copy starts."""
    found = _phrase_loop(text, words, times)
    if found is not None:
        return found
    return _tail_cycle(text)


def _phrase_loop(text: str, words: int, times: int) -> Loop | None:
    spans = [(m.start(), m.group()) for m in _WORD.finditer(text)]
    seen: dict[tuple[str, ...], int] = {}
    norm = [_norm(w) for _, w in spans]
    for i in range(len(spans) - words + 1):
        key = tuple(norm[i:i + words])
        if not all(key):  # punctuation-only "words" do not make a phrase
            continue
        seen[key] = seen.get(key, 0) + 1
        if seen[key] >= times:
            return Loop(spans[i][0], " ".join(w for _, w in spans[i:i + words]))
    return None


def _tail_cycle(text: str) -> Loop | None:
    tail = text.rstrip()
    for unit in range(1, CYCLE_UNIT + 1):
        if len(tail) < max(CYCLE_CHARS, 4 * unit):
            break
        pattern = tail[-unit:]
        if pattern.isspace():
            continue
        start = len(tail)
        while start - unit >= 0 and tail[start - unit:start] == pattern:
            start -= unit
        covered = len(tail) - start
        if covered >= CYCLE_CHARS and covered >= 4 * unit:
            return Loop(start + unit, pattern)
    return None


def loops(text: str) -> bool:
    """Does ``text`` loop (the benchmark's test: a 6-word phrase three times, or a character cycle)?"""
    return find_loop(text) is not None


class LoopGuard:
    """Watches a reply as it streams and holds back its last few words, so that when a loop shows,
    none of the repeated copy has been shown yet.  ``feed`` returns the text safe to show now;
    ``loop`` is set once the reply loops (then stop generating); ``flush`` returns the rest, up to
    where the loop began."""

    def __init__(self, words: int = PHRASE_WORDS, times: int = PHRASE_TIMES) -> None:
        self.words, self.times = words, times
        self.text = ""
        self.shown = 0
        self.loop: Loop | None = None

    def feed(self, piece: str) -> str:
        if self.loop is not None:
            return ""
        self.text += piece
        found = find_loop(self.text, self.words, self.times)
        if found is not None:
            self.loop = Loop(max(found.keep, self.shown), found.span)
            return ""
        safe = self._safe_end()
        out, self.shown = self.text[self.shown:safe], max(self.shown, safe)
        return out

    def flush(self) -> str:
        end = len(self.text) if self.loop is None else self.loop.keep
        out, self.shown = self.text[self.shown:end], max(self.shown, end)
        return out

    @property
    def kept(self) -> str:
        """The reply as kept: everything before the loop (all of it when there is none)."""
        return self.text if self.loop is None else self.text[:self.loop.keep]

    def _safe_end(self) -> int:
        """Text up to the start of the last ``words`` words can be shown: a later loop's last copy
        starts no earlier than that (a character cycle may still begin in text already shown)."""
        starts = [m.start() for m in _WORD.finditer(self.text, self.shown)]
        if len(starts) <= self.words:
            return self.shown
        return starts[-self.words]
