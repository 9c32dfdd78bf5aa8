"""What Chat does after the overflow dialog, decided as a plain function (no Pilot, no model)."""

from __future__ import annotations

from pathlib import Path

from localctx.core.flags import RuntimeFlags
from localctx.tui.dialogs import OverflowChoice
from localctx.tui.screens._chat_overflow import after_overflow
from localctx.tui.screens._chat_worker import LoadRequest

FLAGS = RuntimeFlags(ctx=2048)
DOC = Path("/docs/ledger.txt")
FAILED = LoadRequest("smollm2", FLAGS, (DOC,), new_conversation=True)  # opening this overflowed
PREVIOUS = LoadRequest(None, None, resume_id="5e55104d", new_conversation=True)  # the conversation before


def step(choice, what="documents", text="", failed=FAILED, files=()):
    return after_overflow(choice, what=what, text=text, failed=failed, previous=PREVIOUS, model="smollm2",
                          flags=FLAGS, files=files)


def test_cancel_on_documents_reopens_the_previous_conversation_and_says_nothing_was_attached() -> None:
    s = step(None)
    assert s.open == PREVIOUS and s.notice == "nothing was attached" and s.flags is None


def test_cancel_on_a_question_changes_nothing() -> None:
    s = step(None, what="conversation", text="q", failed=None)
    assert s.open is None and s.send is None and s.policy is None and s.notice is None


def test_raising_the_context_for_documents_reloads_the_failed_request_at_the_new_size() -> None:
    s = step(OverflowChoice("raise-ctx", 4096))
    assert s.flags == RuntimeFlags(ctx=4096)
    assert s.open is not None and s.open.files == (DOC,) and s.open.flags == RuntimeFlags(ctx=4096)
    assert s.resend is None


def test_raising_the_context_for_a_question_reopens_the_conversation_and_asks_again() -> None:
    s = step(OverflowChoice("raise-ctx", 8192), what="conversation", text="long question", failed=None)
    assert s.open is not None and s.open.resume_id == "5e55104d" and s.open.flags == RuntimeFlags(ctx=8192)
    assert s.open.model == "smollm2" and s.resend == "long question"


def test_summarize_hands_the_failed_document_to_summarize_and_reopens_the_previous() -> None:
    s = step(OverflowChoice("summarize"))
    assert s.summarize and s.summarize_file == DOC and s.open == PREVIOUS
    s = step(OverflowChoice("summarize"), failed=None, files=(Path("/a.txt"), Path("/b.txt")))
    assert s.summarize_file == Path("/b.txt")


def test_a_trimming_policy_reopens_the_documents_with_it() -> None:
    s = step(OverflowChoice("truncate-middle"))
    assert s.open == FAILED.with_overflow("truncate-middle") and s.open.overflow == "truncate-middle"


def test_on_a_question_a_policy_applies_to_the_open_session_and_the_question_is_asked_again() -> None:
    s = step(OverflowChoice("clear"), what="conversation", text="q", failed=None)
    assert (s.policy, s.send, s.open) == ("clear", "q", None)
    s = step(OverflowChoice("drop-oldest"), what="conversation", text="q", failed=None)
    assert (s.policy, s.send) == ("drop-oldest", "q")
