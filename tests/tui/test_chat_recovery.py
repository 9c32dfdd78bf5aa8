"""Chat after something went wrong: a document that cannot be read, a context the load gate refuses,
a save to a folder that does not exist.  Each leaves Chat usable and says what happened in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

import localctx.engine.llamacpp as llamacpp
from localctx.core.conversation import ChatOptions
from localctx.core.flags import RuntimeFlags
from localctx.core.sampling import CHAT_SAMPLING
from localctx.services.machine import MachineMemory
from localctx.tui.app import make_app
from localctx.tui.dialogs import FitDialog, TextPrompt
from localctx.tui.widgets import ReplyMessage
from tests.tui._helpers import ask, error_notifications, loaded, record_errors, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = [pytest.mark.anyio, pytest.mark.model]
FLAGS = RuntimeFlags(ctx=2048, threads=1)
#: 1 GiB of RAM, 900 MiB free: after the safety margin SmolLM2 fits up to 3,584 tokens, not 32,768
SMALL_MACHINE = MachineMemory(ram_total=1 << 30, ram_available=900 << 20)


def chat_app(model: Path, *, machine: MachineMemory = FIXED_MACHINE, flags: RuntimeFlags = FLAGS):
    return make_app(machine=machine, model=str(model), flags=flags, mode="chat",
                    chat_options=ChatOptions(reply_tokens=8, sampling=CHAT_SAMPLING.with_changes(seed=1)))


async def test_a_binary_attachment_is_one_error_and_chat_stays_usable(smollm2_path: Path, tmp_path: Path) -> None:
    blob = tmp_path / "photo.bin"
    blob.write_bytes(bytes(range(256)) * 64)
    app = chat_app(smollm2_path)
    errors = record_errors(app)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await loaded(pilot)
        await ask(pilot, "Say hello.")
        await wait_until(pilot, lambda: screen.state == "idle" and screen.session.turns, timeout=120,
                         what="the first turn")
        sid = screen.session.session.id
        screen._attach_file(blob)  # what the file picker hands back
        await wait_until(pilot, lambda: error_notifications(app), timeout=120, what="the error")
        assert len(error_notifications(app)) == 1 and "photo.bin" in error_notifications(app)[0]
        # back to the conversation as it was: same session, its turn, nothing attached
        await wait_until(pilot, lambda: screen.session is not None and screen.state == "idle", timeout=120,
                         what="the previous conversation to reopen")
        assert screen.session.session.id == sid and len(screen.session.turns) == 1 and screen.files == []
        assert "not ready" not in text_of(screen.query_one("#chat-status"))
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: screen.session.turns == [], what="a new conversation")
        await ask(pilot, "Say hello again.")
        await wait_until(pilot, lambda: screen.state == "idle" and screen.session.turns, timeout=120,
                         what="a turn after the failed attach")
        assert screen.query(ReplyMessage).last().text
        assert len(errors) == 1 and "photo.bin" in errors[0]  # no second error, also one that expired


async def test_a_context_that_does_not_fit_is_refused_and_the_largest_that_fits_is_offered(
        smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real_init = llamacpp.LlamaEngine.__init__

    def counting_init(self, path, settings, **kw):  # type: ignore[no-untyped-def]
        built.append(settings.n_ctx)
        real_init(self, path, settings, **kw)

    monkeypatch.setattr(llamacpp.LlamaEngine, "__init__", counting_init)
    app = chat_app(smollm2_path, machine=SMALL_MACHINE, flags=RuntimeFlags(ctx=32768, threads=1))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, FitDialog) and bool(app.screen.query("#fit-message"))
                         and error_notifications(app), timeout=60, what="the offer and the refusal's notification")
        assert built == [] and app.host.engine is None  # refused before llama.cpp saw anything
        [line] = error_notifications(app)
        assert "32,768 tokens does not fit" in line and "3,584" in line and "kept free" in line
        dialog = app.screen
        said = " ".join(text_of(dialog.query_one("#fit-message")).split())
        assert "--" not in line and "--" not in said  # no command-line flags: the ways out are buttons and Plan
        assert "largest context that fits with these settings is 3,584" in said
        assert dialog.largest == 3584
        await pilot.pause()
        assert await pilot.click("#use-largest")
        await wait_until(pilot, lambda: not isinstance(app.screen, FitDialog), what="the dialog to close")
        screen = await loaded(pilot)
        assert built == [3584] and screen.session.engine.n_ctx == 3584 and app.flags.ctx == 3584


async def test_cancelling_the_offer_loads_nothing_and_new_chat_tries_again(smollm2_path: Path) -> None:
    app = chat_app(smollm2_path, machine=SMALL_MACHINE, flags=RuntimeFlags(ctx=32768, threads=1))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, FitDialog) and error_notifications(app), timeout=60,
                         what="the offer and the refusal's notification")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, FitDialog), what="the dialog to close")
        screen = app.screen
        assert app.host.engine is None and screen.session is None and screen.state == "idle"
        assert "do not fit" in text_of(screen.query_one("#chat-status"))
        app.use_flags(RuntimeFlags(ctx=2048, threads=1))  # what the Plan screen would set
        await pilot.press("ctrl+n")
        screen = await loaded(pilot)
        assert screen.session.engine.n_ctx == 2048


async def test_saving_to_a_missing_folder_is_one_line_not_a_traceback(smollm2_path: Path, tmp_path: Path) -> None:
    app = chat_app(smollm2_path)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await loaded(pilot)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt), what="the save dialog")
        target = tmp_path / "no" / "such" / "dir" / "chat.md"
        app.screen.query_one("#prompt-input").value = str(target)
        await pilot.press("enter")
        await wait_until(pilot, lambda: error_notifications(app), what="the error")
        [line] = error_notifications(app)
        assert "does not exist" in line and "FileNotFoundError" not in line and "\n" not in line
        assert not target.parent.exists() and app.screen is screen and app.is_running
