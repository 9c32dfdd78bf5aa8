"""Chat after the load gate refused: Cancel on the fit dialog, a smaller context set in Plan, and Chat
shown again (F4) loads with the plan as it is now, through the same gate, with the documents it was
asked to read; the refusal's status line says so.  At 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.conversation import ChatOptions
from localctx.core.flags import RuntimeFlags
from localctx.core.sampling import CHAT_SAMPLING
from localctx.tui.app import make_app
from localctx.tui.dialogs import FitDialog
from tests.tui._helpers import error_notifications, loaded, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = [pytest.mark.anyio, pytest.mark.model]
NARROW = (80, 24)
TOO_BIG = RuntimeFlags(ctx=1_048_576, threads=1)  # ~24 GiB of KV cache for SmolLM2: the 16 GiB machine refuses


async def refused_and_cancelled(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, FitDialog) and error_notifications(app), timeout=60,
                     what="the refusal and its offer")
    await pilot.press("escape")
    await wait_until(pilot, lambda: not isinstance(app.screen, FitDialog), what="the dialog to close")


async def test_chat_shown_again_loads_with_the_smaller_context_set_in_plan(smollm2_path: Path,
                                                                           tmp_path: Path) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("The lighthouse keeper counted forty-two ships in March.\n")
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=TOO_BIG, mode="chat", files=[doc],
                   chat_options=ChatOptions(reply_tokens=16, sampling=CHAT_SAMPLING.with_changes(seed=1)))
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await refused_and_cancelled(pilot)
        chat = app.screen
        assert app.host.engine is None and chat.session is None
        status = " ".join(text_of(chat.query_one("#chat-status"), 60).split())
        assert "not loaded: 1,048,576 tokens do not fit this machine" in status
        assert "Plan (F3)" in status and "loads when Chat is shown again" in status  # says what loads it

        await pilot.press("f3")
        plan = app.screen
        await wait_until(pilot, lambda: plan.outcome is not None and plan.outcome.settings.n_ctx == 1_048_576,
                         what="Plan showing the refused context")
        box = plan.query_one("#ctx")
        box.focus()
        box.value = "2048"
        await wait_until(pilot, lambda: plan.outcome.settings.n_ctx == 2048, what="the plan at 2,048")
        assert app.flags == RuntimeFlags(ctx=2048, threads=1)

        await pilot.press("f4")  # no ctrl+n: showing Chat loads with the current plan
        assert app.screen is chat
        await loaded(pilot)
        assert chat.session.engine.n_ctx == 2048
        assert [Path(d.path) for d in chat.session.documents] == [doc]  # the documents it was asked to read
        assert app.host.plan.settings.n_ctx == 2048  # through the gate, with the plan it made


async def test_chat_shown_again_with_nothing_changed_waits_for_a_change(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=TOO_BIG, mode="chat")
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await refused_and_cancelled(pilot)
        chat = app.screen
        said = {id(n) for n in app._notifications}  # private: textual 8.2
        await pilot.press("f2")
        await pilot.press("f4")
        await pilot.pause()
        assert app.screen is chat and chat.state == "idle" and chat.session is None  # not refused a second time
        assert not [n for n in app._notifications if id(n) not in said and n.severity == "error"]
        app.use_flags(RuntimeFlags(ctx=2048, threads=1))  # what the Plan screen sets
        await pilot.press("ctrl+l")  # or reload in place, as the status line says
        await loaded(pilot)
        assert chat.session.engine.n_ctx == 2048
