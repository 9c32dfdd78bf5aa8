"""Every screen at 80x24 (the smallest terminal users run): values wrap or move, never cut off.

``cut_off`` lists what a screen shows cut: a text longer than its widget, a line ending in "…", a table
that scrolls sideways, a placeholder wider than its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.conversation import ChatOptions
from localctx.core.flags import RuntimeFlags
from localctx.core.sampling import CHAT_SAMPLING
from localctx.services.summarize import SummaryEvent
from localctx.tui.app import make_app
from localctx.tui.screens.summarize import SummarizeScreen
from tests.tui._helpers import cut_off, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

NARROW = (80, 24)


async def plan_ready(pilot) -> None:
    await wait_until(pilot, lambda: pilot.app.screen.outcome is not None, what="the plan")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.anyio
async def test_plan_at_80x24_cuts_nothing(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model="smollm2", flags=RuntimeFlags(ctx=32768))
    async with app.run_test(size=NARROW) as pilot:
        await plan_ready(pilot)
        screen = app.screen
        assert cut_off(screen) == []
        gauge = text_of(screen.query_one("#gauge"), screen.query_one("#gauge").content_size.width)
        assert "12.00 GiB free" in gauge and "usable" in gauge and "fits" in gauge


@pytest.mark.anyio
async def test_models_at_80x24_puts_the_details_below_the_table(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model="smollm2", mode="models")
    async with app.run_test(size=NARROW) as pilot:
        screen = app.screen
        table = screen.query_one("#models-table")
        await wait_until(pilot, lambda: table.row_count >= 2, timeout=120, what="the model list")
        await wait_until(pilot, lambda: "trained context" in text_of(screen.query_one("#model-detail"), 76),
                         timeout=60, what="the details")
        await pilot.pause()
        assert screen.has_class("-narrow")
        assert cut_off(screen) == []
        assert "93.81 MiB" in {str(c) for c in table.get_row("smollm2")}


@pytest.mark.anyio
async def test_summarize_at_80x24_wraps_a_long_status(tmp_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, mode="summarize")
    async with app.run_test(size=NARROW) as pilot:
        screen = app.screen
        assert cut_off(screen) == []
        screen.post_message(SummarizeScreen.Progressed(
            SummaryEvent("step", "map-3", 3, 12, 123_456, 987_654, resumed=2)))
        await wait_until(pilot, lambda: screen.last_event is not None, what="the progress")
        await pilot.pause()
        status = text_of(screen.query_one("#sum-status"), 76)
        assert "step 4 of 12 running (2 from the checkpoint)" in status and "123,456/987,654" in status
        assert cut_off(screen) == []


def test_plan_snapshot_80x24(snap_compare, smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model="smollm2", flags=RuntimeFlags(ctx=32768))
    assert snap_compare(app, terminal_size=NARROW, run_before=plan_ready)


def test_summarize_snapshot_80x24(snap_compare) -> None:
    app = make_app(machine=FIXED_MACHINE, mode="summarize")

    async def steady(pilot) -> None:
        for box in pilot.app.screen.query("Input"):
            box.cursor_blink = False  # a blinking cursor is drawn or not by the clock
        await pilot.pause()

    assert snap_compare(app, terminal_size=NARROW, run_before=steady)


@pytest.mark.anyio
@pytest.mark.model
async def test_chat_at_80x24_cuts_nothing_after_a_turn(smollm2_path: Path, tmp_path: Path) -> None:
    doc = tmp_path / "a-rather-long-document-name-for-a-narrow-sidebar.md"
    doc.write_text("The bell of the salt road rang 17 times in 1700.")
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048, threads=1),
                   mode="chat", files=(doc,),
                   chat_options=ChatOptions(reply_tokens=8, sampling=CHAT_SAMPLING.with_changes(seed=1)))
    async with app.run_test(size=NARROW) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.session is not None and screen.state == "idle", timeout=120,
                         what="the model to load")
        box = screen.query_one("#chat-input")
        box.focus()
        box.value = "How many times did the bell ring, and in which year did it ring on the salt road?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.state == "idle" and screen.session.turns, timeout=120,
                         what="the turn")
        await wait_until(pilot, lambda: len(screen.query_one("#chat-sessions").children) == 1, what="the list")
        await pilot.pause()
        assert cut_off(screen) == []
        status = text_of(screen.query_one("#chat-status"), 50)
        assert "n_ctx 2,048" in status and screen.session.session.id in status  # wrapped, whole
