"""Passkey prompts put the key at the exact token depth asked for; the answer parser reads keys right."""

from __future__ import annotations

import pytest

from localctx.core import passkey as pk


def chars(text: str) -> list[int]:
    """A tokenizer with one token per character: positions are easy to reason about."""
    return [ord(c) for c in text]


@pytest.mark.parametrize("depth", [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
def test_needle_sits_at_the_requested_token_depth(depth: float) -> None:
    p = pk.build_prompt(chars, 2000, depth, 12345, bos=[1])
    assert p.n_tokens == 2000
    assert p.tokens[0] == 1
    needle = chars(pk.needle_text(12345))
    assert p.tokens[p.needle_pos:p.needle_pos + len(needle)] == needle
    head = 1 + len(chars(pk.INSTRUCTION))
    assert p.haystack_start == head
    room = p.haystack_len - len(needle)
    assert p.needle_pos - head == round(depth * room)
    assert abs(p.actual_depth - depth) <= 1 / room
    assert p.tokens[-len(chars(pk.QUESTION)):] == chars(pk.QUESTION)
    # the rest of the haystack is filler only: the key appears nowhere else
    text = "".join(map(chr, p.tokens[1:]))
    assert text.count("12345") == 2  # "The pass key is 12345. Remember it. 12345 is the pass key."


def test_depth_edges_touch_instruction_and_question() -> None:
    needle = chars(pk.needle_text(54321))
    first = pk.build_prompt(chars, 1500, 0.0, 54321)
    assert first.needle_pos == len(chars(pk.INSTRUCTION))
    last = pk.build_prompt(chars, 1500, 1.0, 54321)
    assert last.tokens[last.needle_pos + len(needle):] == chars(pk.QUESTION)


def test_too_short_a_prompt_is_refused_not_truncated() -> None:
    need = len(chars(pk.INSTRUCTION)) + len(chars(pk.needle_text(11111))) + len(chars(pk.QUESTION))
    pk.build_prompt(chars, need, 0.5, 11111)  # exactly enough: no filler at all
    with pytest.raises(ValueError, match="at least"):
        pk.build_prompt(chars, need - 1, 0.5, 11111)
    with pytest.raises(ValueError):
        pk.build_prompt(chars, 2000, 1.5, 11111)


def test_prompt_leaves_room_for_the_answer() -> None:
    assert pk.prompt_tokens_for_context(8192) == 8192 - pk.ANSWER_TOKENS


@pytest.mark.parametrize("text,expected", [
    (" 27611. Remember", 27611),
    ("27611", 27611),
    (" The pass key is 84606.", 84606),
    (" 12,345 is it", 12345),
    (" 12,34", 12),
    ("\n\n 99999\n", 99999),
    (" a magical item", None),
    ("", None),
    (" 1234567", 1234567),
])
def test_answer_parser(text: str, expected: int | None) -> None:
    assert pk.parse_answer(text) == expected


def test_is_correct_needs_the_whole_key() -> None:
    assert pk.is_correct(" 27611. The", 27611)
    assert not pk.is_correct(" 2761", 27611)
    assert not pk.is_correct(" 276111", 27611)
    assert not pk.is_correct(" nothing", 27611)


def test_keys_are_five_digits_and_reproducible() -> None:
    a = pk.random_keys(50, 7)
    assert a == pk.random_keys(50, 7)
    assert a != pk.random_keys(50, 8)
    assert all(10000 <= k <= 99999 for k in a)


def test_depth_list_parsing() -> None:
    assert pk.parse_depths("0.1, 0.5,90%") == [0.1, 0.5, 0.9]
    for bad in ("1.5", "-0.1", "deep", ""):
        with pytest.raises(ValueError):
            pk.parse_depths(bad)


def test_cell_score() -> None:
    assert pk.CellScore(2, 3).label() == "2/3"
    assert pk.CellScore(2, 4).accuracy == 0.5
    assert pk.CellScore(0, 0).accuracy is None


@pytest.mark.model
def test_real_tokenizer_key_position(smollm2_path) -> None:  # type: ignore[no-untyped-def]
    from localctx.core.settings import RuntimeSettings
    from localctx.engine.llamacpp import LlamaEngine

    with LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=512, n_threads=1)) as eng:
        tok = lambda s: eng.tokenize(s, add_bos=False, special=False)  # noqa: E731
        bos = eng.tokenize("", add_bos=True, special=False)
        for depth in (0.1, 0.5, 0.9):
            p = pk.build_prompt(tok, 496, depth, 73019, bos=bos)
            assert p.n_tokens == 496
            assert eng.detokenize(p.tokens[p.needle_pos:p.needle_pos + p.needle_len]) == pk.needle_text(73019)
            before = eng.detokenize(p.tokens[:p.needle_pos])
            assert "73019" not in before
            assert pk.INSTRUCTION[:40] in before
            assert abs(p.actual_depth - depth) < 0.01
            assert eng.detokenize(p.tokens[-len(tok(pk.QUESTION)):]) == pk.QUESTION
