"""The app shell: F-keys and the command palette switch screens; `localctx tui` wiring; lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app as cli_app
from localctx.tui.app import make_app
from localctx.tui.screens import ChatScreen, ModelsScreen, PlanScreen, SummarizeScreen
from tests.tui._helpers import wait_until
from tests.tui.conftest import FIXED_MACHINE


@pytest.mark.anyio
async def test_function_keys_switch_screens_and_the_palette_lists_them() -> None:
    app = make_app(machine=FIXED_MACHINE, mode="plan")
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, PlanScreen)
        await pilot.press("f2")
        assert isinstance(app.screen, ModelsScreen)
        await pilot.press("f5")
        assert isinstance(app.screen, SummarizeScreen)
        await pilot.press("f3")
        assert isinstance(app.screen, PlanScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Go to Models", "Go to Plan", "Go to Chat", "Go to Summarize"} <= set(titles)
        assert "Use the largest context that fits" in titles  # the screen's own palette entries
        await pilot.press("f1")
        await wait_until(pilot, lambda: app.screen.query("HelpPanel"), what="the keys panel")
        await pilot.press("f1")
        await wait_until(pilot, lambda: not app.screen.query("HelpPanel"), what="the keys panel to close")


@pytest.mark.anyio
async def test_picking_a_model_on_models_reaches_plan() -> None:
    app = make_app(machine=FIXED_MACHINE, mode="plan", model="smollm2")
    async with app.run_test(size=(100, 30)) as pilot:
        plan = app.screen
        await wait_until(pilot, lambda: plan.outcome is not None, what="the first plan")
        app.use_model("gemma-3-270m")
        await wait_until(pilot, lambda: plan.outcome is not None and plan.outcome.memory.arch == "gemma3",
                         timeout=120, what="gemma's plan")
        assert plan.query_one("#model").value == "gemma-3-270m"
        assert plan.outcome.memory.layout.layers_swa > 0  # the gauge now plans gemma's SWA cache


def test_tui_command_rejects_an_unknown_screen_and_bad_flags() -> None:
    r = CliRunner().invoke(cli_app, ["tui", "--screen", "bogus"])
    assert r.exit_code == 2 and "unknown screen 'bogus'" in r.output
    r = CliRunner().invoke(cli_app, ["tui", "--ctx", "0"])
    assert r.exit_code == 2 and "--ctx must be greater than 0" in r.output


def test_tui_help_lists_the_screens() -> None:
    r = CliRunner().invoke(cli_app, ["tui", "--help"])
    assert r.exit_code == 0 and "--screen" in r.output and "summarize" in r.output


def test_importing_the_app_loads_neither_llama_cpp_nor_the_hub_client() -> None:
    code = ("import sys, localctx.tui.app; "
            "print(sorted(m for m in ('llama_cpp', 'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_chat_screen_is_a_mode() -> None:
    assert make_app().MODES["chat"] is ChatScreen


@pytest.mark.anyio
async def test_the_same_error_twice_is_one_notification_and_a_new_one_is_another() -> None:
    from localctx.errors import LocalctxError
    from tests.tui._helpers import error_notifications

    app = make_app(machine=FIXED_MACHINE, mode="summarize")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        for _ in range(3):
            app.report(LocalctxError("x.txt: no such file", "check the path"), "summarize")
        await pilot.pause()
        assert error_notifications(app) == ["x.txt: no such file — check the path"]
        app.report(LocalctxError("y.txt: no such file"), "summarize")
        await pilot.pause()
        assert len(error_notifications(app)) == 2
