"""What the engine does with llama.cpp's logits: the sampler chain that picks the next token, and the
log-probabilities of given tokens (perplexity).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from llama_cpp import _internals as _ll

from localctx.core.sampling import MIN_P, NO_REPEAT_PENALTY, TOP_P


def make_sampler(n_vocab: int, *, temperature: float, seed: int, repeat_penalty: float,
                 repeat_last_n: int) -> _ll.LlamaSampler:
    """llama.cpp's sampler chain: the repeat penalty ahead of the choice (greedy too), then greedy at
    temperature 0, else top-p, min-p, temperature and a seeded draw.  The caller closes it."""
    sampler = _ll.LlamaSampler()
    if repeat_penalty != NO_REPEAT_PENALTY:
        sampler.add_penalties(n_vocab, repeat_last_n, repeat_penalty, 0.0, 0.0)
    if temperature <= 0:
        sampler.add_greedy()
    else:
        sampler.add_top_p(TOP_P, 1)
        sampler.add_min_p(MIN_P, 1)
        sampler.add_temp(temperature)
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
