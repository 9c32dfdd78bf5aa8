"""Perplexity by position (pure maths over per-token log-probabilities).

A text is evaluated in ONE window of n_ctx tokens, so token i is predicted from all i tokens before
it; grouping the negative log-likelihood by position bucket (0-2K, 2K-4K, ...) shows where quality
falls off past the trained length.  Short sliding windows would hide exactly that.

Noise: neighbouring tokens' losses are correlated, so standard errors are computed over blocks of
consecutive tokens (batch means), not over single tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_BLOCK = 128  # tokens per block for batch-means standard errors


@dataclass(frozen=True)
class Bucket:
    """Perplexity of the tokens at positions [start, end) of the window."""

    start: int
    end: int
    n_tokens: int
    mean_nll: float
    se_nll: float | None  # batch-means standard error of mean_nll (None: too few blocks)

    @property
    def ppl(self) -> float:
        return math.exp(self.mean_nll)

    @property
    def ppl_range(self) -> tuple[float, float] | None:
        """exp(mean ± 1 standard error): how far noise alone moves this bucket's perplexity."""
        if self.se_nll is None:
            return None
        return math.exp(self.mean_nll - self.se_nll), math.exp(self.mean_nll + self.se_nll)

    def label(self) -> str:
        return f"{_k(self.start)}-{_k(self.end)}"

    def to_json(self) -> dict[str, float | int | None]:
        return {"start": self.start, "end": self.end, "n_tokens": self.n_tokens, "mean_nll": self.mean_nll,
                "se_nll": self.se_nll, "ppl": self.ppl}


def _k(n: int) -> str:
    return f"{n // 1024}K" if n % 1024 == 0 and n else str(n)


def nll(logprobs: Sequence[float]) -> list[float]:
    return [-lp for lp in logprobs]


def perplexity(logprobs: Sequence[float]) -> float:
    """exp(mean negative log-likelihood); raises ValueError on an empty sequence."""
    if not logprobs:
        raise ValueError("no scored tokens")
    return math.exp(-math.fsum(logprobs) / len(logprobs))


def batch_means_se(values: Sequence[float], block: int = DEFAULT_BLOCK) -> float | None:
    """Standard error of the mean of correlated values, from the spread of block means."""
    n_blocks = len(values) // block
    if n_blocks < 2:
        return None
    means = [math.fsum(values[i * block:(i + 1) * block]) / block for i in range(n_blocks)]
    mu = math.fsum(means) / n_blocks
    var = math.fsum((m - mu) ** 2 for m in means) / (n_blocks - 1)
    return math.sqrt(var / n_blocks)


def buckets(
    logprobs: Sequence[float], bucket: int, *, first_pos: int = 1, block: int = DEFAULT_BLOCK,
) -> list[Bucket]:
    """Group per-token log-probabilities by window position.

    ``logprobs[j]`` is log p(token at position ``first_pos + j``); Engine.token_logprobs starts at
    position 1 (token 0 has no context).  Bucket k covers positions [k*bucket, (k+1)*bucket).
    """
    if bucket <= 0:
        raise ValueError("bucket must be a positive number of tokens")
    out: list[Bucket] = []
    end_pos = first_pos + len(logprobs)
    start = (first_pos // bucket) * bucket
    while start < end_pos:
        lo, hi = max(start, first_pos), min(start + bucket, end_pos)
        values = nll(logprobs[lo - first_pos:hi - first_pos])
        if values:
            out.append(Bucket(start=start, end=hi,
                              n_tokens=len(values), mean_nll=math.fsum(values) / len(values),
                              se_nll=batch_means_se(values, block)))
        start += bucket
    return out


@dataclass(frozen=True)
class PairedDiff:
    """Mean NLL difference a - b over the same tokens, with its batch-means standard error.

    Comparing two settings on the SAME tokens cancels the text's own difficulty, so this is the
    noise that decides whether one method really beats another.
    """

    mean: float
    se: float | None
    n_tokens: int

    @property
    def ppl_ratio(self) -> float:
        """ppl(a) / ppl(b)."""
        return math.exp(self.mean)

    def significant(self, z: float = 2.0) -> bool:
        return self.se is not None and abs(self.mean) > z * self.se


def paired_diff(a: Sequence[float], b: Sequence[float], *, block: int = DEFAULT_BLOCK) -> PairedDiff:
    """Compare two log-probability sequences of the same tokens (as NLL: positive mean = a is worse)."""
    if len(a) != len(b):
        raise ValueError(f"sequences differ in length ({len(a)} vs {len(b)}); they must score the same tokens")
    if not a:
        raise ValueError("no scored tokens")
    d = [lb - la for la, lb in zip(a, b, strict=True)]
    return PairedDiff(mean=math.fsum(d) / len(d), se=batch_means_se(d, block), n_tokens=len(d))


def bucket_edges(n_ctx: int, bucket: int) -> list[tuple[int, int]]:
    """The (start, end) position ranges a window of n_ctx tokens is reported in."""
    return [(s, min(s + bucket, n_ctx)) for s in range(0, n_ctx, bucket)]
