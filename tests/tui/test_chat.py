"""Chat screen on the embedded model (SmolLM2, n_ctx 2048, short replies): streaming, Esc, overflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.conversation import ChatOptions
from localctx.core.flags import RuntimeFlags
from localctx.core.sampling import CHAT_SAMPLING
from localctx.core.settings import RuntimeSettings
from localctx.services.chat import read_document
from localctx.store import Store
from localctx.tui.app import make_app
from localctx.tui.dialogs import OverflowDialog
from localctx.tui.screens._chat_messages import Ingesting
from localctx.tui.widgets import ChatLog, Notice, ReplyMessage, TokenMeter
from tests.tui._helpers import ask, loaded, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = [pytest.mark.anyio, pytest.mark.model]
FLAGS = RuntimeFlags(ctx=2048, threads=1)  # one llama.cpp thread: two spinning threads crawl on a busy machine


def chat_app(model: Path, files: tuple[Path, ...] = (), reply_tokens: int = 24, flags: RuntimeFlags = FLAGS):
    return make_app(machine=FIXED_MACHINE, model=str(model), flags=flags, mode="chat", files=files,
                    chat_options=ChatOptions(reply_tokens=reply_tokens, sampling=CHAT_SAMPLING.with_changes(seed=1)))


def ledger(paragraphs: int) -> str:
    """Deterministic prose, about 45 SmolLM2 tokens a paragraph."""
    return "\n\n".join(f"In the year {1700 + i}, the archivist number {i} counted {17 + i * 11} letters about "
                       f"the salt road, bridge {i + 2} and a missing bell." for i in range(paragraphs))


async def test_a_turn_streams_text_into_the_log_and_is_saved(smollm2_path: Path) -> None:
    # a long reply, so the stream is observable while it runs (a 9-token answer is done in 0.2 s)
    app = chat_app(smollm2_path, reply_tokens=160)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await ask(pilot, "Write a long story about a dragon who collects bells.")
        reply = None

        def streaming() -> bool:
            nonlocal reply
            replies = screen.query(ReplyMessage)
            reply = replies.last() if replies else None
            return screen.state == "generating" and reply is not None and reply.pieces >= 1

        await wait_until(pilot, streaming, timeout=120, what="text in the log while the reply runs")
        assert reply is not None and reply.text.strip()  # visible before the turn finished
        await wait_until(pilot, lambda: screen.state == "idle", timeout=120, what="the reply to finish")
        turn = screen.session.last_turn
        assert not turn.stopped and turn.reply_tokens <= 160
        assert reply.pieces > 1  # streamed piece by piece, not dumped at the end
        assert reply.text == screen.session.turns[-1].assistant != ""
        with Store() as store:
            saved = store.turns(screen.session.session.id)
        assert [(t.user, t.assistant) for t in saved] == [("Write a long story about a dragon who collects bells.",
                                                           reply.text)]
        meter = screen.query_one(TokenMeter)
        # the meter is refreshed by a message after the turn ends: wait for it, a busy CPU delays it
        await wait_until(pilot, lambda: meter.budget == screen.session.budget(), timeout=60, what="the meter update")
        assert meter.budget.history > 0


async def test_escape_stops_the_reply_and_keeps_what_was_said(smollm2_path: Path) -> None:
    app = chat_app(smollm2_path, reply_tokens=400)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await ask(pilot, "Write a very long story about a dragon who guards a library.")
        await wait_until(pilot, lambda: screen.query(ReplyMessage) and screen.query(ReplyMessage).last().pieces >= 3,
                         timeout=120, what="a few streamed pieces")
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen.state == "idle", timeout=60, what="the stop")
        turn = screen.session.last_turn
        assert turn.stopped and turn.stop_reason == "cancelled"
        assert 3 <= turn.reply_tokens < 400
        reply = screen.query(ReplyMessage).last()
        assert reply.text.endswith("*(stopped)*")
        with Store() as store:
            saved = store.turns(screen.session.session.id)[-1]
        assert saved.stopped and saved.assistant and reply.text.startswith(saved.assistant)


async def test_an_oversized_document_opens_the_overflow_dialog(smollm2_path: Path, tmp_path: Path) -> None:
    # n_ctx 1024, not the file's 2048: the kept part of the document is read on one thread after the choice
    doc = tmp_path / "ledger.txt"
    doc.write_text(ledger(40))  # about 1,800 tokens: more than n_ctx 1024
    app = chat_app(smollm2_path, files=(doc,), flags=RuntimeFlags(ctx=1024, threads=1))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverflowDialog), timeout=120, what="the dialog")
        dialog = app.screen
        assert "do not fit" in dialog.message and "n_ctx 1,024" in dialog.message
        assert "nothing was truncated" in dialog.message
        assert dialog.suggested_ctx > 1024 and dialog.ctx_verdict.startswith(f"at {dialog.suggested_ctx:,} tokens")
        assert "fits" in dialog.ctx_verdict  # the planner's verdict for the bigger context, on the fixed machine
        await pilot.pause()
        assert await pilot.click("#truncate-middle")
        await wait_until(pilot, lambda: not isinstance(app.screen, OverflowDialog), what="the dialog to close")
        screen = await loaded(pilot)
        notices = [str(n.render()) for n in screen.query_one(ChatLog).query(Notice)]
        assert any("truncate-middle" in n and "ledger.txt" in n for n in notices)  # what was cut is said
        b = screen.session.budget()
        assert b.documents + b.reply <= 1024 and screen.session.overflow == "truncate-middle"


async def test_cancelling_the_overflow_dialog_attaches_nothing(smollm2_path: Path, tmp_path: Path) -> None:
    doc = tmp_path / "ledger.txt"
    doc.write_text(ledger(80))
    app = chat_app(smollm2_path, files=(doc,))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverflowDialog), timeout=120, what="the dialog")
        await pilot.press("escape")
        screen = await loaded(pilot)  # the chat opens without the document: nothing attached, still usable
        assert screen.session.documents == [] and screen.files == []
        assert screen.session.budget().documents < 100


def test_chat_snapshot(snap_compare, smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resumed session (fixed id, fixed turns, one document) at 100x30: deterministic inputs only."""
    import localctx.store.store as store_mod

    monkeypatch.setattr(store_mod.secrets, "token_hex", lambda n: "5e55104d")
    doc = tmp_path / "notes.md"
    doc.write_text(ledger(4))
    with Store() as store:
        s = store.create_session(str(smollm2_path), RuntimeSettings(n_ctx=2048, n_threads=1).to_json(),
                                 [read_document(doc)])
        store.add_turn(s.id, "What do the notes count?", "They count **letters**:\n\n- 17 in 1700\n- 28 in 1701")
        store.add_turn(s.id, "Which bridge comes first?", "Bridge `2`.")
    app = chat_app(smollm2_path)

    async def resumed(pilot) -> None:
        screen = await loaded(pilot)
        await wait_until(pilot, lambda: len(screen.query_one("#chat-sessions").children) == 1, what="the list")
        sessions = screen.query_one("#chat-sessions")
        sessions.focus()
        sessions.index = 0
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.session is not None and screen.session.session is not None
                         and screen.session.session.id == "5e55104d" and screen.state == "idle", timeout=120,
                         what="the resumed session")
        await pilot.app.workers.wait_for_complete()
        screen.query_one("#chat-input").cursor_blink = False  # a blinking cursor is drawn or not by the clock
        # the log scrolls to the end with an animation: wait for it to finish, not for a fixed time
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=resumed)


async def test_a_question_too_long_for_the_context_is_asked_about_and_given_back(smollm2_path: Path) -> None:
    app = chat_app(smollm2_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        question = "Summarize this: " + ledger(60)  # ~2,700 tokens > n_ctx 2048
        await ask(pilot, question)
        await wait_until(pilot, lambda: isinstance(app.screen, OverflowDialog), timeout=60, what="the dialog")
        dialog = app.screen
        assert dialog.what == "conversation" and "does not fit" in dialog.message
        assert dialog.query("#clear") and not dialog.query("#summarize")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen and screen.state == "idle", what="the dialog to close")
        assert screen.query_one("#chat-input").value == question  # the prompt comes back, nothing was sent
        assert not screen.query(ReplyMessage) and screen.session.turns == []


async def test_documents_are_read_with_the_speed_forecast_beside_the_truth(smollm2_path: Path, tmp_path: Path) -> None:
    """With a calibration for these settings, reading the documents shows the expected time while it
    runs and, once read, the real time beside it (the same words as the CLI's)."""
    from localctx.core import forecast as fc
    from localctx.core.model_info import read_model_info
    from localctx.services import forecast as sf

    # a slow imaginary calibration (20 ms per prompt token), so the expected time is unmistakable
    segs = [fc.Segment(fc.PROMPT, d, 512, 512 * 20.0) for d in (0, 512, 1024)]
    segs += [fc.Segment(fc.GEN, d, 16, 16 * 30.0) for d in (0, 512, 1024)]
    sf.store_calibration(read_model_info(smollm2_path), RuntimeSettings(n_ctx=2048, n_threads=1), segs)
    doc = tmp_path / "ledger.txt"
    doc.write_text(ledger(6))  # ~270 tokens: the engine reports progress after every batch, so at least once
    seen: list[str] = []
    app = chat_app(smollm2_path, files=(doc,))
    async with app.run_test(size=(160, 30)) as pilot:
        screen = app.screen
        post = screen.post_message

        def spy(msg) -> bool:  # what the ingest worker posts to the screen
            if isinstance(msg, Ingesting):
                seen.append(msg.eta)
            return post(msg)

        screen.post_message = spy
        screen = await loaded(pilot)
        eta = screen.session.ingest_forecast
        assert eta is not None and eta[2] == "measured"
        n = screen.session.ingest_report.n_tokens
        assert eta[0] == pytest.approx(n * 0.020, rel=0.01)  # 20 ms a token, as calibrated
        status = str(screen.query_one("#chat-status").content)
        assert f"read in {screen.session.ingest_report.seconds:.1f} s, expected {sf.ingest_eta_text(eta)}" in status
    assert seen and all(e == sf.ingest_eta_text(eta) for e in seen)  # every progress message carried it
