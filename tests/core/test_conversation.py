"""The conversation contract every front end builds: ChatOptions and SamplingSettings."""

from __future__ import annotations

from localctx.core.conversation import ChatOptions
from localctx.core.sampling import CHAT_DRY_MULTIPLIER, CHAT_SAMPLING, GREEDY, SamplingSettings


def test_conversations_start_from_chat_sampling_and_measurements_from_greedy() -> None:
    assert ChatOptions().sampling == CHAT_SAMPLING
    assert CHAT_SAMPLING.dry_multiplier == CHAT_DRY_MULTIPLIER > 0 and CHAT_SAMPLING.greedy
    assert CHAT_SAMPLING.repeat_penalty == 1.0  # DRY instead (docs/benchmarks.md)
    assert ChatOptions().loop_guard and ChatOptions().layout == "excerpt"
    assert GREEDY.repeat_penalty == 1.0 and GREEDY.dry_multiplier == 0.0


def test_with_sampling_changes_only_what_is_given() -> None:
    o = ChatOptions(reply_tokens=64).with_sampling(temperature=0.7, top_k=None, seed=3)
    assert o.reply_tokens == 64
    assert o.sampling == CHAT_SAMPLING.with_changes(temperature=0.7, seed=3)
    assert o.sampling.top_k == CHAT_SAMPLING.top_k and not o.sampling.greedy


def test_sampling_round_trips_through_json_and_ignores_unknown_fields() -> None:
    s = SamplingSettings(temperature=0.5, top_k=40, dry_multiplier=0.8, seed=7)
    assert SamplingSettings.from_json(s.to_json()) == s
    assert SamplingSettings.from_json({**s.to_json(), "mirostat": 2}) == s
