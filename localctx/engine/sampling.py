"""What the engine does with llama.cpp's logits: the sampler chain that picks the next token, and the
log-probabilities of given tokens (perplexity).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_cpp import _internals as _ll

from localctx.core.sampling import NO_REPEAT_PENALTY, SamplingSettings

#: where a DRY repetition ends: llama.cpp's default sequence breakers
DRY_BREAKERS = ("\n", ":", "\"", "*")


def make_sampler(model: Any, n_vocab: int, s: SamplingSettings, *, seed: int, n_ctx: int) -> _ll.LlamaSampler:
    """llama.cpp's sampler chain, in its own order: the repeat penalty and DRY ahead of the choice
    (greedy too), then greedy at temperature 0, else top-k, top-p, min-p, temperature and a seeded
    draw.  ``model``: the LlamaModel (DRY tokenizes its sequence breakers).  The caller closes it.

    Both penalties see only the tokens the chain accepted, i.e. this reply: copying a phrase from the
    documents is not penalised, repeating one of its own is.  ``dry_penalty_last_n`` and
    ``repeat_last_n`` -1 mean the whole context, as on llama.cpp's command line; the C functions clamp
    -1 to 0, which turns the penalty off, so -1 is resolved to ``n_ctx`` here."""
    sampler = _ll.LlamaSampler()
    if s.repeat_penalty != NO_REPEAT_PENALTY:
        sampler.add_penalties(n_vocab, n_ctx if s.repeat_last_n < 0 else s.repeat_last_n, s.repeat_penalty, 0.0, 0.0)
    if s.dry_multiplier > 0:
        last_n = n_ctx if s.dry_penalty_last_n < 0 else s.dry_penalty_last_n
        sampler.add_dry(model, s.dry_multiplier, s.dry_base, s.dry_allowed_length, last_n, list(DRY_BREAKERS))
    if s.greedy:
        sampler.add_greedy()
    else:
        if s.top_k > 0:
            sampler.add_top_k(s.top_k)
        sampler.add_top_p(s.top_p, 1)
        sampler.add_min_p(s.min_p, 1)
        sampler.add_temp(s.temperature)
        sampler.add_dist(seed)
    return sampler


def logprobs_at(view: np.ndarray, targets: Sequence[int], rows: int = 64) -> list[float]:
    """log softmax at the target ids, in small row blocks so temporaries stay O(rows x vocab)."""
    out: list[float] = []
    for r in range(0, len(targets), rows):
        block = view[r:r + rows][: len(targets) - r]
        m = block.max(axis=1)
        lse = m.astype(np.float64) + np.log(np.exp(block - m[:, None]).sum(axis=1, dtype=np.float64))
        picked = block[np.arange(len(block)), np.asarray(targets[r:r + len(block)])]
        out.extend((picked - lse).tolist())
    return out
