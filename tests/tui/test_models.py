"""Models screen: the catalog rows are the service's; details from inspect; a pull from a real loopback Hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, ProgressBar

from localctx.cli._output import human_bytes
from localctx.services.models import list_models
from localctx.tui.app import make_app
from localctx.tui.dialogs import PullDialog
from tests.gguf_factory import llama_like
from tests.hub.loopback_hub import LoopbackHub, serving_hub
from tests.tui._helpers import error_notifications, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = pytest.mark.anyio
REPO = "acme/Tiny-GGUF"


@pytest.fixture
def hub_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackHub]:
    yield from serving_hub(monkeypatch)


async def listed(pilot) -> DataTable:
    table = pilot.app.screen.query_one(DataTable)
    await wait_until(pilot, lambda: table.row_count > 0 and not table.loading, what="the catalog")
    return table


async def test_rows_are_the_catalog_and_details_follow_the_cursor() -> None:
    app = make_app(machine=FIXED_MACHINE, mode="models")
    async with app.run_test(size=(120, 30)) as pilot:
        table = await listed(pilot)
        want = [r for r in list_models()]
        assert [table.get_row_at(i)[0] for i in range(table.row_count)] == [r.name for r in want]
        smol = next(r for r in want if r.name == "smollm2")
        i = [r.name for r in want].index("smollm2")
        assert table.get_row_at(i)[1:] == [smol.source, smol.arch, smol.quant, human_bytes(smol.size_bytes),
                                           f"{smol.ctx_train:,}"]
        table.move_cursor(row=i)
        detail = app.screen.query_one("#model-detail")
        await wait_until(pilot, lambda: "30 / 576" in text_of(detail, 60), what="smollm2's details")
        assert "8,192" in text_of(detail, 60)
        await pilot.press("enter")
        assert app.model_ref == "smollm2"


async def test_pull_from_the_hub_shows_progress_and_lands_in_the_catalog(hub_server: LoopbackHub,
                                                                         tmp_path: Path) -> None:
    src = llama_like(tmp_path / "Tiny-Q4_K_M.gguf", n_embd=64)
    hub_server.add_repo(REPO, {"Tiny-Q4_K_M.gguf": src})
    app = make_app(machine=FIXED_MACHINE, mode="models")
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen = app.screen
        await listed(pilot)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PullDialog), what="the pull dialog")
        app.screen.query_one("#prompt-input").value = REPO
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.last_progress is not None and not screen.pulling, timeout=60,
                         what="the pull to finish")
        assert not error_notifications(app)
        p = screen.last_progress
        assert p is not None and p.total == src.stat().st_size and p.done == p.total  # the bar reached the end
        assert screen.query_one("#pull-box").has_class("hidden")
        await wait_until(pilot, lambda: f"{REPO}:Q4_K_M" in [r.name for r in screen.rows], what="the pulled row")
        assert screen.query_one(ProgressBar).progress == p.total


async def test_a_failed_pull_is_an_error_notification(hub_server: LoopbackHub) -> None:
    app = make_app(machine=FIXED_MACHINE, mode="models")
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen = app.screen
        await listed(pilot)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PullDialog), what="the pull dialog")
        app.screen.query_one("#prompt-input").value = "acme/No-Such-Repo"
        await pilot.press("enter")
        await wait_until(pilot, lambda: error_notifications(app), timeout=60, what="the error")
        assert "acme/No-Such-Repo" in error_notifications(app)[0]
        assert app.is_running and not screen.pulling
