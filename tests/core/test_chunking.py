"""Chunking with the real SmolLM2 tokenizer: budgets, boundaries, and every token in exactly one chunk."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from localctx.core.chunking import (
    FORCED,
    HEADING,
    PARAGRAPH,
    SENTENCE,
    WORD,
    cut_strength,
    heading_starts,
    plan_chunks,
    tokenize_text,
)

BOOK = Path(__file__).resolve().parent.parent / "data" / "pride_and_prejudice.txt"


@pytest.fixture(scope="module")
def engine():
    from localctx.core.settings import RuntimeSettings
    from localctx.services.runtime import load_engine

    e = load_engine("smollm2", RuntimeSettings(n_ctx=256, n_threads=1))
    yield e
    e.close()


def _doc(engine, text: str):  # type: ignore[no-untyped-def]
    return tokenize_text(text, lambda s: engine.tokenize(s, add_bos=False, special=False), engine.detokenize)


def _check_partition(engine, doc, chunks, budget: int) -> None:  # type: ignore[no-untyped-def]
    """Contiguous token ranges covering the document once, each within budget, each decoding to its text."""
    assert chunks[0].token_start == 0 and chunks[0].char_start == 0
    assert chunks[-1].token_end == doc.n_tokens and chunks[-1].char_end == len(doc.text)
    for a, b in itertools.pairwise(chunks):
        assert a.token_end == b.token_start and a.char_end == b.char_start
    assert sum(c.n_tokens for c in chunks) == doc.n_tokens
    assert all(0 < c.n_tokens <= budget for c in chunks)
    assert "".join(c.text(doc) for c in chunks) == doc.text
    for c in chunks:
        assert engine.detokenize(c.tokens(doc)) == c.text(doc)
    # the chunks' tokens, concatenated, ARE the document's one tokenization
    assert [t for c in chunks for t in c.tokens(doc)] == engine.tokenize(doc.text, add_bos=False, special=False)


def _mid_word(doc, c) -> bool:  # type: ignore[no-untyped-def]
    i = c.char_end
    return 0 < i < len(doc.text) and doc.text[i - 1].isalnum() and doc.text[i].isalnum()


@pytest.mark.model
def test_book_chunks_follow_chapters_and_cover_every_token(engine) -> None:
    doc = _doc(engine, BOOK.read_text("utf-8"))
    assert doc.n_tokens > 100_000
    chunks = plan_chunks(doc, 3500)
    _check_partition(engine, doc, chunks, 3500)
    cuts = [c.cut for c in chunks[:-1]]
    assert "forced" not in cuts and "word" not in cuts
    assert cuts.count("heading") > len(cuts) * 0.6  # chapters are ~2.8K tokens: most cuts land on them
    heads = [c for c in chunks[1:] if chunks[c.index - 1].cut == "heading"]
    assert heads and all(c.text(doc).startswith("Chapter ") for c in heads)
    assert not any(_mid_word(doc, c) for c in chunks)


@pytest.mark.model
def test_unicode_text_aligns_and_small_budgets_never_cut_mid_word(engine) -> None:
    text = ("# Café société\n\nNaïve façade — “quoted.” 中文字符 and 😀 emoji. Zürich, Øresund; déjà vu!\n\n"
            "## Second\n\nAnother paragraph with ümlauts and 🎉🎉 party. The end.\n") * 6
    doc = _doc(engine, text)
    for budget in (12, 25, 60, 200):
        chunks = plan_chunks(doc, budget)
        _check_partition(engine, doc, chunks, budget)
        assert not any(_mid_word(doc, c) for c in chunks if c.cut != "forced")
        assert "forced" not in [c.cut for c in chunks]


@pytest.mark.model
def test_one_long_paragraph_is_cut_at_sentences(engine) -> None:
    sentences = [f"Sentence number {i} talks about the harbour and its {i * 3} boats." for i in range(80)]
    doc = _doc(engine, " ".join(sentences))
    chunks = plan_chunks(doc, 120)
    _check_partition(engine, doc, chunks, 120)
    assert {c.cut for c in chunks[:-1]} == {"sentence"}
    assert all(c.text(doc).rstrip().endswith(".") for c in chunks)


@pytest.mark.model
def test_paragraphs_beat_sentences(engine) -> None:
    para = " ".join(f"Line {i} of this paragraph is here." for i in range(6))
    doc = _doc(engine, "\n\n".join([para] * 12))
    chunks = plan_chunks(doc, 150)
    _check_partition(engine, doc, chunks, 150)
    assert {c.cut for c in chunks[:-1]} == {"paragraph"}


@pytest.mark.model
def test_a_word_longer_than_the_budget_is_the_only_forced_cut(engine) -> None:
    doc = _doc(engine, "Short words first. " + "x" * 400 + " then words again.")
    chunks = plan_chunks(doc, 30)
    _check_partition(engine, doc, chunks, 30)
    assert "forced" in [c.cut for c in chunks]


def test_headings_are_found_in_markdown_setext_and_plain_books() -> None:
    text = ("Intro line.\n\n# Title\n\nText.\n\nSetext\n======\n\nMore.\n\nChapter 12\n\nBody.\n\n"
            "PART TWO\n\nx\n\n\"Quoted.\"\n")
    starts = heading_starts(text)
    found = sorted(text[i:].split("\n", 1)[0] for i in starts)
    assert found == ["# Title", "Chapter 12", "PART TWO", "Setext"]


def test_cut_strength_ranks_the_whitespace_around_a_position() -> None:
    text = "One. Two three\n\nFour five.\n\n# Head\n\nSix"
    heads = heading_starts(text)
    assert cut_strength(text, text.index(" Two"), heads) == SENTENCE
    assert cut_strength(text, text.index(" three"), heads) == WORD
    assert cut_strength(text, text.index("Four"), heads) == PARAGRAPH
    assert cut_strength(text, text.index("# Head"), heads) == HEADING
    assert cut_strength(text, text.index("hree"), heads) == FORCED


def test_bad_budget_and_empty_text() -> None:
    from localctx.core.chunking import TokenizedText

    empty = TokenizedText("", (), ((0, 0),))
    assert plan_chunks(empty, 10) == []
    with pytest.raises(ValueError):
        plan_chunks(empty, 0)
