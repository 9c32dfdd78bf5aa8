"""The terminal UI opened with no MODEL (bare `localctx`, `localctx tui`) plans the default model the
user set, as every CLI command does."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app as cli
from localctx.core.flags import RuntimeFlags
from localctx.tui.app import make_app
from tests.gguf_factory import llama_like
from tests.tui._helpers import wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = pytest.mark.anyio


async def test_with_no_model_the_tui_plans_the_default_model(tmp_path: Path) -> None:
    tiny = llama_like(tmp_path / "Tiny-Q4_K_M.gguf", n_embd=128)
    runner = CliRunner()
    assert runner.invoke(cli, ["models", "add", str(tiny), "--name", "tiny"]).exit_code == 0
    assert runner.invoke(cli, ["models", "default", "tiny"]).exit_code == 0
    app = make_app(machine=FIXED_MACHINE, flags=RuntimeFlags(ctx=1024))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.outcome is not None and screen.info is not None, what="a plan")
        assert app.model_ref == "tiny" and Path(screen.info.path) == tiny
