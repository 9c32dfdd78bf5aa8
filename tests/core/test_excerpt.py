"""The passage restated next to a question (core.excerpt): found by the question's distinctive words,
whole sentences and table rows with their header, bounded, and absent rather than wrong."""

from __future__ import annotations

import random

from localctx.core.excerpt import MAX_CHARS, best_passage, split_passages, words

FILLER = ["The tide came in slowly over the flats.", "The keeper watched the lamp after supper.",
          "Nobody thought much of it.", "The gulls circled the jetty before the storm.",
          "The supply boat waited for the fog to lift."]


def long_text(fact: str, depth: float, n: int = 2000) -> str:
    rng = random.Random(0)
    lines = [" ".join(rng.choice(FILLER) for _ in range(3)) for _ in range(n)]
    lines.insert(int(n * depth), fact)
    return "\n".join(lines)


def test_the_sentence_holding_the_fact_is_found_deep_in_a_long_text() -> None:
    fact = "The keeper's sister, Marta Quillon, ran the post office in the village."
    for depth in (0.02, 0.5, 0.97):
        text = long_text(f"The lamp was cleaned at dawn. {fact} The gulls were loud.", depth)
        assert best_passage(text, "Who ran the post office in the village?") == fact


def test_a_table_row_comes_with_its_header() -> None:
    text = ("Prices below.\n\n| SKU | Item | Unit price (EUR) | In stock |\n|---|---|---|---|\n"
            "| K-900 | hinge | 3.10 | 40 |\n| K-901 | turnbuckle | 73.15 | 12 |\n\nShipping is free.")
    row = "| SKU | Item | Unit price (EUR) | In stock |\n| K-901 | turnbuckle | 73.15 | 12 |"
    assert best_passage(text, "What is the unit price of the turnbuckle (SKU K-901)?") == row
    assert best_passage(text, "How much does a turnbuckle cost?") == row  # one word, but no other row has it
    assert best_passage(text, "How much does it cost?") is None


def test_words_of_other_scripts_match_whole() -> None:
    assert words("Die Straßenbahn fährt um 7.45, Café-Ecke") == ["die", "straßenbahn", "fährt", "um", "7.45",
                                                                 "café-ecke"]
    text = "Der Bahnhof liegt am Stadtrand.\nDie Bäckerei in der Lindenstraße öffnet um sechs Uhr.\nEs regnet."
    assert best_passage(text, "Wann öffnet die Bäckerei?") == "Die Bäckerei in der Lindenstraße öffnet um sechs Uhr."


def test_titles_and_initials_do_not_end_a_sentence() -> None:
    assert split_passages("The warden is Dr. Ines Calloway. She met J. Smith there. Then it rained.") == [
        "The warden is Dr. Ines Calloway.", "She met J. Smith there.", "Then it rained."]


def test_no_passage_when_the_question_shares_no_distinctive_word() -> None:
    text = long_text("The hall roof fund holds 3,218 euros.", 0.4)
    assert best_passage(text, "thanks, that helps") is None
    assert best_passage(text, "What do you think?") is None  # stop words only
    assert best_passage(text, "What colour is the bicycle shed?") is None
    assert best_passage("", "What is the fund?") is None


def test_a_long_passage_is_cut_at_a_word_and_says_so() -> None:
    sentence = "The reservoir gauge " + " ".join(f"reading{i}" for i in range(200)) + " was recorded."
    got = best_passage(f"Short line.\n{sentence}", "What did the reservoir gauge record?")
    assert got is not None and len(got) <= MAX_CHARS + 2 and got.endswith(" …")
    assert sentence.startswith(got[:-2])


def test_the_same_documents_and_question_give_the_same_passage() -> None:
    """Earlier turns are rendered again on every turn: the passage must not drift (KV reuse)."""
    text = long_text("Firmware images are verified with an Ed25519 signature.", 0.6)
    first = best_passage(text, "What kind of signature verifies firmware images?")
    assert first is not None and "Ed25519" in first
    assert all(best_passage(str(text), "What kind of signature verifies firmware images?") == first
               for _ in range(3))
