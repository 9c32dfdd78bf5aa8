"""Models screen: the catalog rows are the service's, then the presets that are not pulled (with how to get
each); details from inspect; pulls from a real loopback Hub, by Hub reference or by preset name, resolved
and refused exactly as `localctx pull` resolves and refuses them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, ProgressBar
from typer.testing import CliRunner

from localctx.cli._output import human_bytes
from localctx.cli.app import app as cli
from localctx.models.presets import load_presets
from localctx.services.models import list_models
from localctx.tui.app import make_app
from localctx.tui.dialogs import PullDialog
from tests.gguf_factory import llama_like
from tests.hub.conftest import REPO
from tests.hub.conftest import TINY_PRESET as PRESET
from tests.hub.loopback_hub import LoopbackHub, serving_hub
from tests.tui._helpers import cut_off, error_notifications, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = pytest.mark.anyio
NARROW = (80, 24)


@pytest.fixture
def hub_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackHub]:
    yield from serving_hub(monkeypatch)


@pytest.fixture
def tiny_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The presets are one test family: tiny-1b, from REPO on the loopback Hub."""
    d = tmp_path / "presets"
    d.mkdir()
    (d / "tiny.toml").write_text(PRESET)
    monkeypatch.setenv("LOCALCTX_PRESETS_DIR", str(d))
    return "tiny-1b"


async def listed(pilot) -> DataTable:
    table = pilot.app.screen.query_one(DataTable)
    await wait_until(pilot, lambda: table.row_count > 0 and not table.loading, what="the catalog")
    return table


def cells(table: DataTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


async def pull_in_dialog(pilot, text: str) -> None:
    app = pilot.app
    await pilot.press("p")
    await wait_until(pilot, lambda: isinstance(app.screen, PullDialog), what="the pull dialog")
    app.screen.query_one("#prompt-input").value = text
    await pilot.press("enter")


async def test_rows_are_the_catalog_and_details_follow_the_cursor() -> None:
    app = make_app(machine=FIXED_MACHINE, mode="models")
    async with app.run_test(size=(120, 30)) as pilot:
        table = await listed(pilot)
        want = [r for r in list_models()]
        assert [table.get_row_at(i)[0] for i in range(len(want))] == [r.name for r in want]
        smol = next(r for r in want if r.name == "smollm2")
        i = [r.name for r in want].index("smollm2")
        assert table.get_row_at(i)[1:] == [smol.source, smol.quant, human_bytes(smol.size_bytes),
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


async def test_presets_that_are_not_pulled_are_listed_with_how_to_get_them() -> None:
    app = make_app(machine=FIXED_MACHINE, mode="models")
    async with app.run_test(size=NARROW) as pilot:
        screen = app.screen
        table = await listed(pilot)
        catalog = [r.name for r in list_models()]
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        presets = [p for p in load_presets() if p.name not in catalog]  # none is pulled in the test's cache
        assert presets and names == catalog + [p.name for p in presets]
        qwen = next(p for p in presets if p.name == "qwen3-8b")
        assert cells(table, "qwen3-8b") == ["qwen3-8b", "preset", qwen.default_quant, "not pulled",
                                            f"{qwen.n_ctx_train:,}"]
        table.move_cursor(row=names.index("qwen3-8b"))
        detail = screen.query_one("#model-detail")
        await wait_until(pilot, lambda: "not pulled" in text_of(detail, 76), what="the preset's details")
        said = " ".join(text_of(detail, 76).split())
        assert "run `localctx pull qwen3-8b`" in said and qwen.repo in said and "131,072" in said
        await pilot.pause()
        assert cut_off(screen) == []  # the longest preset names fit 80 columns
        await pilot.press("enter")  # a preset that is not pulled cannot be used yet: Enter offers the pull
        await wait_until(pilot, lambda: isinstance(app.screen, PullDialog), what="the pull dialog")
        assert app.screen.query_one("#prompt-input").value == "qwen3-8b"
        assert app.model_ref != "qwen3-8b"


async def test_the_pull_dialog_takes_a_preset_name_as_pull_does(hub_server: LoopbackHub, tiny_preset: str,
                                                                tmp_path: Path) -> None:
    src = llama_like(tmp_path / "Tiny-Q4_K_M.gguf", n_embd=64)
    hub_server.add_repo(REPO, {"Tiny-Q4_K_M.gguf": src, "Tiny-Q8_0.gguf": llama_like(tmp_path / "Tiny-Q8_0.gguf")})
    app = make_app(machine=FIXED_MACHINE, mode="models")
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        screen = app.screen
        table = await listed(pilot)
        assert cells(table, tiny_preset)[1:4] == ["preset", "Q4_K_M", "not pulled"]
        await pull_in_dialog(pilot, tiny_preset)
        await wait_until(pilot, lambda: screen.last_progress is not None and not screen.pulling, timeout=60,
                         what="the pull to finish")
        assert not error_notifications(app)
        assert screen.last_progress.total == src.stat().st_size  # the preset's default quant, from its repo
        await wait_until(pilot, lambda: screen.offer(tiny_preset) is None and tiny_preset in
                         [r.name for r in screen.rows], what="the preset listed as pulled")
        assert cells(table, tiny_preset)[1:4] == ["preset", "Q4_K_M", human_bytes(src.stat().st_size)]


@pytest.mark.parametrize("typed", ["tiny-1b:Q2_K", "tiny-1bb", "no such model"])
async def test_a_name_pull_refuses_is_refused_with_pulls_own_line(hub_server: LoopbackHub, tiny_preset: str,
                                                                  typed: str) -> None:
    cli_said = CliRunner().invoke(cli, ["pull", typed])
    assert cli_said.exit_code == 2
    [line] = cli_said.stderr.strip().splitlines()
    app = make_app(machine=FIXED_MACHINE, mode="models")
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await listed(pilot)
        await pull_in_dialog(pilot, typed)
        await wait_until(pilot, lambda: error_notifications(app), what="the refusal")
        assert error_notifications(app) == [line.removeprefix("error: ")]
        assert not app.screen.pulling and hub_server.body_bytes(".gguf") == 0


def test_models_snapshot_80x24_with_a_preset_not_pulled(snap_compare, tiny_preset: str) -> None:
    """The catalog, then the test preset (dim, "not pulled"), its details below: 80x24."""
    app = make_app(machine=FIXED_MACHINE, mode="models")

    async def on_the_preset(pilot) -> None:
        table = await listed(pilot)
        table.move_cursor(row=table.get_row_index(tiny_preset))
        await wait_until(pilot, lambda: "not pulled" in text_of(pilot.app.screen.query_one("#model-detail"), 76),
                         what="the preset's details")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=NARROW, run_before=on_the_preset)
