"""Self-Extend: grouped KV positions while a prompt is evaluated (llama.cpp's ``ga_n``/``ga_w`` scheme).

Lets a model read past its trained context without RoPE scaling: the positions of older tokens are
divided by ``group`` window by window, so the largest relative distance the model sees stays inside
what it was trained on.  Moves positions with the engine's ``shift_positions``; never combined with
YaRN (the planner and the engine both refuse: shifting cached keys under YaRN corrupts them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from localctx.errors import SettingsError

if TYPE_CHECKING:
    from localctx.engine.llamacpp import LlamaEngine


class SelfExtend:
    """Groups KV positions as the prompt fills (llama.cpp completion.cpp's ga_n/ga_w scheme).

    Before each batch, every complete window of ``window`` tokens behind the newest ones has its
    positions divided by ``group``; the newest (< window) tokens keep exact relative positions.
    ``before_batch(n_cached)`` must run before each batch of at most ``window`` tokens."""

    def __init__(self, engine: LlamaEngine, group: int, window: int) -> None:
        if window % group:
            raise SettingsError(f"Self-Extend window {window} is not divisible by group {group}")
        self.engine, self.group, self.window = engine, group, window
        self.n_past = 0  # next position
        self.ga_i = 0  # start of the not yet grouped region, in (grouped) positions
        self.seen = 0  # tokens in the cache

    def _sync(self, n_cached: int) -> None:
        self.n_past += n_cached - self.seen
        self.seen = n_cached

    def before_batch(self, n_cached: int) -> None:
        self._sync(n_cached)
        g, w = self.group, self.window
        while self.n_past >= self.ga_i + w:
            ib = (g * self.ga_i) // w
            bd = (w // g) * (g - 1)
            dd = (w // g) - ib * bd - w
            self.engine.shift_positions(self.ga_i, self.n_past, delta=ib * bd)
            self.engine.shift_positions(self.ga_i + ib * bd, self.ga_i + ib * bd + w, divide=g)
            self.engine.shift_positions(self.ga_i + ib * bd + w, self.n_past + ib * bd, delta=dd)
            self.n_past -= bd
            self.ga_i += w // g

    def ingest(self, tokens: Sequence[int], progress: Callable[[int], None] | None = None) -> None:
        """Evaluate ``tokens`` from an empty cache with grouped positions."""
        self.engine.ingest([])
        step = min(self.window, self.engine.n_batch)
        for i in range(0, len(tokens), step):
            self.before_batch(i)
            self.engine.ingest(list(tokens[:i + step]))
            if progress is not None:
                progress(min(i + step, len(tokens)))
        self._sync(len(tokens))
