"""Perplexity by position: bucket maths, batch-means noise and paired differences."""

from __future__ import annotations

import math

import pytest

from localctx.core import ppl


def test_perplexity_of_uniform_guesses_is_the_vocabulary_size() -> None:
    assert ppl.perplexity([math.log(1 / 4)] * 10) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        ppl.perplexity([])


def test_buckets_group_by_window_position() -> None:
    # position p (1..11) has log-prob -p/10: bucket [0,4) holds positions 1..3, [4,8) 4..7, [8,12) 8..11
    lps = [-p / 10 for p in range(1, 12)]
    b = ppl.buckets(lps, 4, block=2)
    assert [(x.start, x.end, x.n_tokens) for x in b] == [(0, 4, 3), (4, 8, 4), (8, 12, 4)]
    assert b[0].mean_nll == pytest.approx((0.1 + 0.2 + 0.3) / 3)
    assert b[1].ppl == pytest.approx(math.exp((0.4 + 0.5 + 0.6 + 0.7) / 4))
    assert b[2].label() == "8-12"
    assert ppl.buckets([-1.0] * 4096, 2048, first_pos=1)[1].label() == "2K-4K"


def test_partial_last_bucket_ends_at_the_window() -> None:
    b = ppl.buckets([-1.0] * 9, 4)  # positions 1..9
    assert [(x.start, x.end) for x in b] == [(0, 4), (4, 8), (8, 10)]


def test_batch_means_standard_error() -> None:
    assert ppl.batch_means_se([1.0] * 100, block=10) == 0.0
    assert ppl.batch_means_se([1.0] * 15, block=10) is None  # one block: no spread to measure
    # block means 0 and 2: sample sd sqrt(2), se = sqrt(2)/sqrt(2) = 1
    assert ppl.batch_means_se([0.0] * 3 + [2.0] * 3, block=3) == pytest.approx(1.0)


def test_bucket_noise_range_brackets_the_value() -> None:
    lps = [-(1 + (i % 7) / 10) for i in range(1000)]
    b = ppl.buckets(lps, 1000, block=100)[0]
    lo, hi = b.ppl_range  # type: ignore[misc]
    assert lo < b.ppl < hi


def test_paired_difference_sign_and_ratio() -> None:
    b = [-(1 + (i % 5) / 10) for i in range(512)]
    a = [x - 0.1 for x in b]  # a predicts every token a bit worse
    d = ppl.paired_diff(a, b, block=128)
    assert d.mean == pytest.approx(0.1)
    assert d.ppl_ratio == pytest.approx(math.exp(0.1))
    assert d.se == pytest.approx(0.0, abs=1e-12)
    assert d.significant()
    same = ppl.paired_diff(b, b, block=128)
    assert same.mean == 0 and not same.significant()
    with pytest.raises(ValueError):
        ppl.paired_diff(a[:-1], b)


def test_bucket_edges() -> None:
    assert ppl.bucket_edges(5000, 2048) == [(0, 2048), (2048, 4096), (4096, 5000)]
    with pytest.raises(ValueError):
        ppl.buckets([-1.0], 0)
