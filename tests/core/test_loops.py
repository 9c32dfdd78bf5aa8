"""Loop detection: what counts as a reply repeating itself, and what the guard keeps and shows."""

from __future__ import annotations

from localctx.core.loops import LoopGuard, find_loop, loops

SENTENCE = "The package is a tool for reading long files. "


def test_a_sentence_said_three_times_is_a_loop_twice_is_not() -> None:
    assert not loops(SENTENCE * 2)
    found = find_loop("It reads text. " + SENTENCE * 3)
    assert found is not None
    kept = ("It reads text. " + SENTENCE * 3)[:found.keep]
    assert kept == "It reads text. " + SENTENCE * 2  # the copies before the third stay
    assert found.span.split()[0] == "The"


def test_case_and_punctuation_do_not_hide_a_loop() -> None:
    assert loops("Bells ring at noon, every day. bells ring at noon every day! BELLS RING AT NOON, EVERY DAY.")


def test_ordinary_prose_with_shared_words_is_no_loop() -> None:
    text = ("The keeper lit the lamp at dusk. The keeper cleaned the lens at dawn. The keeper wrote the log "
            "at noon. The keeper of the light was tired of the light and of the keeper's dog.")
    assert not loops(text)


def test_a_back_to_back_cycle_without_spaces_is_a_loop() -> None:
    found = find_loop("Answer: " + "ab!" * 30)
    assert found is not None and found.keep == len("Answer: ab!")
    assert not loops("Answer: " + "ab!" * 5)
    assert not loops("=" * 20)  # a short rule is not a loop


def test_the_guard_holds_back_the_last_words_and_never_shows_the_repeated_copy() -> None:
    g = LoopGuard()
    shown = ""
    stream = ("Intro words here. " + SENTENCE * 5).split(" ")
    for word in stream:
        shown += g.feed(word + " ")
        if g.loop is not None:
            break
    shown += g.flush()
    assert g.loop is not None
    assert shown == g.kept == "Intro words here. " + SENTENCE * 2
    assert g.feed("more") == ""  # once it loops, nothing more is shown


def test_the_guard_passes_a_reply_without_a_loop_through_whole() -> None:
    g = LoopGuard()
    text = "Biscuit was the dog. It was a wiry terrier that barked at gulls."
    shown = "".join(g.feed(c) for c in text) + g.flush()
    assert shown == text and g.loop is None
