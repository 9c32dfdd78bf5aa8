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


def screen_lines(app) -> list[str]:
    """The screen as the terminal shows it, one string per row."""
    import io

    from rich.console import Console

    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True,
                      color_system=None, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text().rstrip("\n").split("\n")


SCREEN_KEYS = {"models": "f2 Models", "plan": "f3 Plan", "chat": "f4 Chat", "summarize": "f5 Summarize"}


@pytest.mark.anyio
async def test_footer_at_80x24_names_every_other_screen_and_the_screens_own_keys(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model="smollm2", flags=RuntimeFlags(ctx=2048, threads=1))
    own = {"models": ["p Pull", "r Refresh", "^t Chat"], "plan": ["^r Max ctx", "^t Chat"],
           "chat": ["esc Stop", "^o Attach", "^n New", "^s Save"],
           "summarize": ["^o Pick file", "^g Summarize", "esc Stop", "^s Save"]}
    async with app.run_test(size=NARROW) as pilot:
        for mode, key in (("models", "f2"), ("summarize", "f5"), ("chat", "f4"), ("plan", "f3")):
            await pilot.press(key)
            await wait_until(pilot, lambda m=mode: app.current_mode == m and "^q Quit" in screen_lines(app)[-1],
                             what=f"the footer of {mode}")
            footer = screen_lines(app)[-1]
            others = [v for k, v in SCREEN_KEYS.items() if k != mode]
            missing = [k for k in [*others, *own[mode], "^q Quit"] if k not in footer]
            assert not missing, (mode, missing, footer)
            assert SCREEN_KEYS[mode] not in footer  # the screen it is on
            assert "palettee" not in footer and not footer.rstrip().endswith("…")
        app.screen.refresh_bindings()
        await pilot.press("f1")  # hidden from the footer, still the keys panel
        await wait_until(pilot, lambda: bool(app.screen.query("HelpPanel")), what="the keys panel")


async def chat_loaded(pilot) -> None:
    from tests.tui._helpers import loaded

    screen = await loaded(pilot)
    for box in screen.query("Input"):
        box.cursor_blink = False  # a blinking cursor is drawn or not by the clock
    await pilot.pause()


@pytest.mark.anyio
@pytest.mark.model
async def test_chat_budget_at_80x24_keeps_its_numbers_and_says_prompt_without_documents(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model="smollm2", flags=RuntimeFlags(ctx=2048, threads=1), mode="chat")
    async with app.run_test(size=NARROW) as pilot:
        await chat_loaded(pilot)
        screen = app.screen
        budget = screen.session.budget()
        meter = screen.query_one("#chat-meter")
        lines = text_of(meter, meter.content_size.width).rstrip("\n").split("\n")
        assert len(lines) <= meter.content_size.height, (lines, meter.content_size)  # every row shown
        text = " ".join(" ".join(lines).split())
        assert f"prompt {budget.documents:,} · history 0" in text and "of n_ctx 2,048" in text, text
        assert "documents" not in text  # none attached: the figure is the system prompt and template
        assert cut_off(screen) == []


def test_chat_snapshot_80x24(snap_compare, smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model="smollm2", flags=RuntimeFlags(ctx=2048, threads=1), mode="chat")
    assert snap_compare(app, terminal_size=NARROW, run_before=chat_loaded)
