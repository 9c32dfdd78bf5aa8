"""Summarize screen: a map-reduce run on the embedded model with visible step progress, then save."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Markdown

from localctx.core.flags import RuntimeFlags
from localctx.tui.app import make_app
from localctx.tui.dialogs import TextPrompt
from tests.tui._helpers import error_notifications, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = pytest.mark.anyio

#: small caps so a ~650-token file needs two chunks at n_ctx 512 but generates under 60 tokens in all
OPTIONS = {"map_tokens": 16, "final_tokens": 24, "chunk_tokens": 400}


def report(paragraphs: int) -> str:
    return "\n\n".join(f"Section {i}. The harbour of Kesslow received {40 + i} ships in week {i + 1}; the "
                       f"warden logged {3 + i} repairs to the north pier and one storm." for i in range(paragraphs))


@pytest.mark.model
async def test_a_long_file_is_summarized_with_step_progress_and_saved(smollm2_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "harbour.txt"
    src.write_text(report(20))  # ~650 tokens: more than n_ctx 512, so map-reduce in chunks of <= 400
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=512, threads=1),
                   mode="summarize", summary_options=OPTIONS)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        screen.query_one("#sum-file").value = str(src)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.running, what="the run to start")
        await wait_until(pilot, lambda: not screen.running, timeout=600, what="the summary")
        assert not error_notifications(app)
        r = screen.result
        assert r is not None and r.mode == "map-reduce" and len(r.chunks) >= 2
        # progress came step by step (queued updates collapse to the latest, so not necessarily every one)
        assert len(screen.steps_seen) >= 2 and "final" in screen.steps_seen
        assert screen.last_event.steps_done == screen.last_event.steps_total
        assert "map-reduce" in text_of(screen.query_one("#sum-status"))
        assert screen.query_one("#sum-result", Markdown).source == r.to_markdown()
        assert r.summary.strip()

        out = tmp_path / "harbour.summary.md"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt), what="the save dialog")
        assert app.screen.query_one("#prompt-input").value == str(out)  # next to the source by default
        await pilot.press("enter")
        await wait_until(pilot, out.exists, what="the saved file")
        assert out.read_text("utf-8") == r.to_markdown()


async def test_a_missing_file_is_a_notification_not_a_crash(tmp_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, mode="summarize")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        screen.query_one("#sum-file").value = str(tmp_path / "nope.txt")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: error_notifications(app), what="the error")
        assert "nope.txt: no such file" in error_notifications(app)[0]
        assert app.is_running and not screen.running and screen.result is None


@pytest.mark.model
async def test_a_context_that_does_not_fit_is_refused_and_the_largest_that_fits_is_offered(
        smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import localctx.engine.llamacpp as llamacpp
    from localctx.services.machine import MachineMemory
    from localctx.tui.dialogs import FitDialog

    built: list[int] = []
    real_init = llamacpp.LlamaEngine.__init__

    def counting_init(self, path, settings, **kw):  # type: ignore[no-untyped-def]
        built.append(settings.n_ctx)
        real_init(self, path, settings, **kw)

    monkeypatch.setattr(llamacpp.LlamaEngine, "__init__", counting_init)
    src = tmp_path / "harbour.txt"
    src.write_text(report(3))
    small = MachineMemory(ram_total=1 << 30, ram_available=900 << 20)  # SmolLM2 fits 3,584 tokens here
    app = make_app(machine=small, model=str(smollm2_path), flags=RuntimeFlags(ctx=32768, threads=1),
                   mode="summarize", summary_options=OPTIONS)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        screen.query_one("#sum-file").value = str(src)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, FitDialog) and error_notifications(app), timeout=60,
                         what="the offer and the refusal's notification")
        assert built == [] and app.host.engine is None  # refused before llama.cpp saw anything
        [line] = error_notifications(app)
        assert "32,768 tokens does not fit" in line and "fits with these settings is 3,584" in line and "--" not in line
        await pilot.pause()
        assert await pilot.click("#use-largest")
        await wait_until(pilot, lambda: screen.result is not None, timeout=300, what="the summary at 3,584")
        assert built == [3584] and app.flags.ctx == 3584 and screen.result.summary.strip()
