"""The Summarize screen while the model writes: the status names the step and the tokens written so far,
and the bar is not full until the summary is (it used to sit at 100% for the whole generation)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import ProgressBar

from localctx.core.flags import RuntimeFlags
from localctx.tui.app import make_app
from tests.tui._helpers import error_notifications, plain, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = pytest.mark.anyio

#: one pass (the note fits n_ctx 512) with room for a summary long enough to watch being written
OPTIONS = {"final_tokens": 48}
WRITING = re.compile(r"step 1 of 1 running · writing its summary: (\d+) of at most 48 tokens")


@pytest.mark.model
async def test_the_generation_steps_show_until_the_summary_is_done(smollm2_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "harbour.txt"
    src.write_text("The harbour of Kesslow received 41 ships in the first week of May. The warden logged three "
                   "repairs to the north pier, one storm that closed the port for a day, and a new crane.\n")
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=512, threads=1),
                   mode="summarize", summary_options=OPTIONS)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = app.screen
        screen.query_one("#sum-file").value = str(src)
        bar = screen.query_one("#sum-progress", ProgressBar)
        seen: list[tuple[str, float | None]] = []
        status = screen.query_one("#sum-status")
        shown = status.update

        def record(content: Any = "", *args: Any, **kwargs: Any) -> Any:
            # every text the status is given, with the bar as it stands then: a fast machine writes the
            # whole summary between two polls, so polling alone can miss the writing phase
            seen.append((plain(content, 80), bar.percentage))
            return shown(content, *args, **kwargs)

        status.update = record

        def watch() -> bool:
            return screen.result is not None or bool(error_notifications(app))

        await pilot.press("ctrl+g")
        await wait_until(pilot, watch, timeout=600, what="the summary")
        assert not error_notifications(app)
        writing = [(WRITING.search(" ".join(t.split())), pct) for t, pct in seen]
        written = [(int(m[1]), pct) for m, pct in writing if m]
        assert written, [t for t, _ in seen][-20:]  # the status said which step writes and how far it is
        assert any(n > 0 for n, _ in written)
        assert all(pct is not None and pct < 1.0 for _, pct in written)  # not full while the model writes
        r = screen.result
        assert r.mode == "single"
        assert bar.percentage == 1.0
        assert "1 step, " in text_of(screen.query_one("#sum-status"), 80)
