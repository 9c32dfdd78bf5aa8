"""Stop strings in streamed text: a reply is cut where a stop string begins, and text that could be
the start of one is held back until the next token tells.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class StopFilter:
    """Turns a token's bytes into the text that is safe to show now.

    ``feed`` returns (text to yield, whether a stop string was hit); after a hit nothing more is
    shown.  ``flush`` returns what was held back once the stream ends without a hit."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = stop
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def feed(self, data: bytes) -> tuple[str, bool]:
        self._pending += self._decoder.decode(data)
        hit = find_stop(self._pending, self.stop)
        if hit is not None:
            out, self._pending = self._pending[:hit], ""
            return out, True
        keep = stop_prefix_len(self._pending, self.stop)
        cut = len(self._pending) - keep
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out, False

    def flush(self) -> str:
        out = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return out


def find_stop(text: str, stop: Sequence[str]) -> int | None:
    hits = [i for s in stop if s and (i := text.find(s)) >= 0]
    return min(hits) if hits else None


def stop_prefix_len(text: str, stop: Sequence[str]) -> int:
    """Length of the longest tail of ``text`` that could begin a stop string (held back, not yielded)."""
    best = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best
