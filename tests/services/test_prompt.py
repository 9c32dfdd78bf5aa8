"""The message-to-prompt step's layouts: the passage restated beside a question (``excerpt``, the
default) changes the user message only, the same way at every door and on every later turn."""

from __future__ import annotations

import pytest

from localctx.core.conversation import DEFAULT_LAYOUT, LAYOUTS
from localctx.services import prompt
from localctx.services.chat_budget import DocText
from localctx.services.serve_render import _with_documents

FACT = "The treasurer reported that the hall roof fund now holds 3,218 euros."
FILLER = "The committee discussed the parish newsletter and the state of the footpaths at some length."
DOCS = [DocText("minutes.txt", "\n".join([FILLER] * 40 + [FACT] + [FILLER] * 40)),
        DocText("notes.txt", "The hall is booked on Fridays.")]
QUESTION = "How much does the hall roof fund hold?"


def test_the_default_layout_restates_the_matching_passage_between_reminder_and_question() -> None:
    assert DEFAULT_LAYOUT == "excerpt" and set(LAYOUTS) == {"after", "reminder", "excerpt"}
    msgs = prompt.document_messages(None, DOCS, [], QUESTION)
    user = msgs[-1]["content"]
    assert user == f"{prompt.DOCS_REMINDER}\n\n{prompt.EXCERPT_LABEL}\n{FACT}\n\n{QUESTION}"
    assert prompt.document_messages(None, DOCS, [], QUESTION, layout="reminder")[-1]["content"] == (
        f"{prompt.DOCS_REMINDER}\n\n{QUESTION}")
    assert prompt.document_messages(None, DOCS, [], QUESTION, layout="after")[-1]["content"] == QUESTION


def test_the_documents_prefix_is_the_same_for_every_question_and_layout() -> None:
    systems = {prompt.document_messages("Be brief.", DOCS, [], q, layout=lay)[0]["content"]
               for q in (QUESTION, "Who booked the hall?", "thanks") for lay in LAYOUTS}
    assert len(systems) == 1


def test_a_question_without_a_trustworthy_match_gets_the_plain_reminder() -> None:
    for q in ("thanks, that helps", "What colour is the bicycle shed?"):
        assert prompt.document_messages(None, DOCS, [], q)[-1]["content"] == f"{prompt.DOCS_REMINDER}\n\n{q}"


def test_no_documents_no_reminder_and_no_passage() -> None:
    assert prompt.document_messages(None, [], [], QUESTION)[-1]["content"] == QUESTION


def test_an_earlier_turn_renders_the_same_on_every_later_turn() -> None:
    """The KV cache keeps turn 1's tokens only if turn 2's prompt starts with them."""
    first = prompt.document_messages(None, DOCS, [], QUESTION)
    later = prompt.document_messages(None, DOCS, [(QUESTION, "3,218 euros.")], "And on which day is the hall booked?")
    assert later[:len(first)] == first
    assert "The hall is booked on Fridays." in later[-1]["content"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_server_renders_the_same_messages_as_chat(layout: str) -> None:
    """A conversation sent to ``serve`` with documents evaluates what ``chat`` evaluates."""
    history = [(QUESTION, "3,218 euros.")]
    chat = prompt.document_messages("Be brief.", DOCS, history, "Who booked the hall?", layout=layout)
    request = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION},
               {"role": "assistant", "content": "3,218 euros."}, {"role": "user", "content": "Who booked the hall?"}]
    assert _with_documents(request, DOCS, layout) == chat


def test_the_passage_cache_keeps_a_digest_of_the_documents_not_the_documents() -> None:
    """A server sees many documents: the cache of passages must not hold each one's text alive."""
    for i in range(3):
        docs = [DocText(f"d{i}.txt", f"{FILLER}\n{FACT} Copy {i}.\n" * 200)]
        prompt.document_messages(None, docs, [], QUESTION)
    assert prompt._PASSAGES and all(isinstance(d, bytes) and len(d) == 16 and len(q) < 100
                                    for d, q in prompt._PASSAGES)
