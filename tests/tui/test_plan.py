"""Plan screen: the gauge shows the planner's numbers and follows the form; errors notify, never crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.cli._output import human_bytes
from localctx.core.flags import RuntimeFlags
from localctx.core.memory import plan_memory
from localctx.core.model_info import read_model_info
from localctx.core.rope import plan_extension
from localctx.services.memory import max_context, ram_reserve, reserve_note
from localctx.services.runtime import plan_for, resolve_settings
from localctx.tui.app import make_app
from localctx.tui.screens import PlanScreen
from localctx.tui.widgets import MemoryGauge
from tests.tui._helpers import error_notifications, plain, text_of, wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = pytest.mark.anyio


def expected_plan(model: Path, ctx: int, **flags: object):
    """What the planner says for these flags, computed here without the TUI."""
    info = read_model_info(model)
    settings, ext = plan_for(info, resolve_settings(info, RuntimeFlags(ctx=ctx, **flags)))  # type: ignore[arg-type]
    return info, settings, plan_memory(info, settings), ext


async def set_input(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    widget.value = ""
    await pilot.press(*text)


async def plan_ready(pilot, ctx: int) -> PlanScreen:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.outcome is not None and screen.outcome.settings.n_ctx == ctx,
                     what=f"a plan at n_ctx {ctx}")
    return screen


async def test_changing_the_context_updates_the_gauge_to_the_planners_numbers(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await plan_ready(pilot, 2048)
        assert app.flags == RuntimeFlags(ctx=2048)  # an untouched form changes none of the flags
        gauge = screen.query_one(MemoryGauge)
        _, _, at_2k, _ = expected_plan(smollm2_path, 2048)
        assert gauge.plan is not None and gauge.plan.kv_bytes == at_2k.kv_bytes

        await set_input(pilot, "#ctx", "16384")
        screen = await plan_ready(pilot, 16384)
        assert app.flags == RuntimeFlags(ctx=16384)  # what Chat and Summarize will load with
        info, settings, want, _ = expected_plan(smollm2_path, 16384)
        got = gauge.plan
        assert got is not None
        assert (got.kv_bytes, got.compute_bytes, got.weights_bytes, got.total) == \
               (want.kv_bytes, want.compute_bytes, want.weights_bytes, want.total)
        assert got.kv_bytes == 8 * at_2k.kv_bytes  # the KV cache grows with the context, cell for cell
        row = gauge.rows[0]
        assert (row.label, row.need, row.available) == ("RAM", want.cpu.total, FIXED_MACHINE.ram_available)
        assert row.parts == {"weights": want.cpu.weights, "kv": want.cpu.kv, "compute": want.cpu.compute,
                             "other": want.cpu.output + want.cpu.overhead}
        text = plain(gauge.render(), 96)
        for n in (want.cpu.total, want.cpu.kv, want.cpu.compute, want.cpu.weights):
            assert human_bytes(n) in text
        # the largest context that fits is the service's answer for the same machine and settings
        best = max_context(info, settings, FIXED_MACHINE)
        assert screen.outcome.max_ctx == best
        assert f"{best:,}" in text_of(screen.query_one("#plan-maxctx"))
        # judged against usable memory: free less the stated safety margin, as the load gate judges
        reserve = ram_reserve(FIXED_MACHINE)
        assert f"of {human_bytes(FIXED_MACHINE.ram_available - reserve)} usable" in text
        assert f"{human_bytes(reserve)} kept free" in text
        assert "usable" in text_of(screen.query_one("#plan-verdict"))
        assert reserve_note(FIXED_MACHINE) in text_of(screen.query_one("#plan-notes"), 200)


async def test_kv_type_and_flash_attention_follow_the_form(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=4096),
                   )
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await plan_ready(pilot, 4096)
        screen.query_one("#type_k").value = "q8_0"
        screen.query_one("#type_v").value = "q8_0"
        await wait_until(pilot, lambda: screen.outcome.memory.layout.type_k == "q8_0"
                         and screen.outcome.memory.layout.type_v == "q8_0", what="a q8_0 plan")
        _, _, want, _ = expected_plan(smollm2_path, 4096, cache_type_k="q8_0", cache_type_v="q8_0")
        assert screen.query_one(MemoryGauge).plan.kv_bytes == want.kv_bytes

        # llama.cpp refuses a quantized V cache without flash attention: the screen says so, and keeps going
        screen.query_one("#flash").value = "off"
        await wait_until(pilot, lambda: screen.error is not None, what="the settings error")
        assert "flash attention" in screen.error
        assert any("flash attention" in m for m in error_notifications(app))
        assert app.is_running
        screen.query_one("#type_v").value = "f16"
        await wait_until(pilot, lambda: screen.error is None and not screen.outcome.memory.layout.flash_attn,
                         what="a valid plan without flash attention")


async def test_past_the_trained_context_the_extension_plan_and_its_warning_show(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048))
    async with app.run_test(size=(100, 30)) as pilot:
        await plan_ready(pilot, 2048)
        await set_input(pilot, "#ctx", "32k")
        screen = await plan_ready(pilot, 32768)
        info, settings, _, _ = expected_plan(smollm2_path, 32768)
        ext = plan_extension(info, resolve_settings(info, RuntimeFlags(ctx=32768)))
        assert ext.method == "yarn" and ext.factor == 4
        shown = text_of(screen.query_one("#plan-extension"), 96)
        assert "yarn × 4" in shown and "yarn_orig_ctx=8192" in shown
        assert ext.warning and ext.warning.split()[0] in shown


async def test_a_model_that_cannot_be_read_is_a_notification_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 20)
    app = make_app(machine=FIXED_MACHINE, model=str(bad))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_until(pilot, lambda: error_notifications(app), what="an error notification")
        assert "broken.gguf" in error_notifications(app)[0]
        assert app.is_running and app.screen.outcome is None


def test_plan_snapshot(snap_compare, smollm2_path: Path) -> None:
    """Plan at 100x30 for SmolLM2 at 32K (a YaRN plan), against the fixed 16 GiB machine."""
    app = make_app(machine=FIXED_MACHINE, model="smollm2", flags=RuntimeFlags(ctx=32768))

    async def ready(pilot) -> None:
        await wait_until(pilot, lambda: pilot.app.screen.outcome is not None, what="the plan")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=ready)


def test_plan_snapshot_wide(snap_compare) -> None:
    """The same plan at 200x50 with a q8_0 cache: the layout must hold at both sizes users run."""
    app = make_app(machine=FIXED_MACHINE, model="smollm2",
                   flags=RuntimeFlags(ctx=65536, cache_type_k="q8_0", cache_type_v="q8_0", flash_attn="on"))

    async def ready(pilot) -> None:
        await wait_until(pilot, lambda: pilot.app.screen.outcome is not None, what="the plan")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(200, 50), run_before=ready)


async def test_typing_fast_into_the_context_keeps_every_key_and_replans_when_typing_pauses(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await plan_ready(pilot, 2048)
        box = screen.query_one("#ctx")
        before = screen.replans
        await set_input(pilot, "#ctx", "16384")  # one key after another, as fast as the Pilot sends them
        assert box.value == "16384"
        screen = await plan_ready(pilot, 16384)
        # one plan when typing paused, not one per key ("1", "16", "163", ... were never planned); a
        # second one only if the busy machine paused the keys longer than the debounce
        assert screen.replans - before <= 2
        assert box.value == "16384" and app.flags == RuntimeFlags(ctx=16384)
        assert "context 16,384" in text_of(screen.query_one("#plan-title"))
        assert not error_notifications(app)  # no toast for the half-typed "1", "16", ...


async def test_a_mistyped_context_is_one_notification_not_one_per_key(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await plan_ready(pilot, 2048)
        await set_input(pilot, "#ctx", "12x4y")
        await wait_until(pilot, lambda: screen.error is not None, what="the form error")
        assert "'12x4y'" in screen.error
        assert error_notifications(app) == [screen.error]
        await set_input(pilot, "#ctx", "4096")
        await plan_ready(pilot, 4096)
        assert screen.error is None and len(error_notifications(app)) == 1


async def test_a_context_chosen_on_another_screen_shows_when_plan_comes_back(smollm2_path: Path) -> None:
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await plan_ready(pilot, 2048)
        await pilot.press("f5")
        app.use_flags(app.with_ctx(3584))  # what Chat does when the user takes the largest context that fits
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.screen is screen, what="the Plan screen")
        await plan_ready(pilot, 3584)
        assert screen.query_one("#ctx").value == "3584" and app.flags == RuntimeFlags(ctx=3584)


async def test_the_speed_forecast_sits_under_the_gauge_and_follows_the_context(smollm2_path: Path) -> None:
    from localctx.core import forecast as fc
    from localctx.services.forecast import forecast_for, store_calibration

    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await plan_ready(pilot, 2048)
        text = text_of(screen.query_one("#plan-forecast"), 200)
        assert "not calibrated" in text and f"localctx bench {app.model_ref}" in text

        # a calibration for exactly these settings (timings of a machine at 7.5 ms/token + attention)
        info = read_model_info(smollm2_path)
        settings = screen.outcome.settings
        shape = fc.shape_of(info, settings)
        segs = [fc.Segment(fc.PROMPT, d, 512, 7.5 * 512 + 9e-8 * shape.attn_flops(d, 512)) for d in (0, 1024, 2048)]
        segs += [fc.Segment(fc.GEN, d, 16, 16 * 12.0 + 2.5e-6 * shape.kv_bytes(d, 16)) for d in (1, 1024, 2048)]
        store_calibration(info, settings, segs)
        for ctx in (4096, 16384):
            await set_input(pilot, "#ctx", str(ctx))
            screen = await plan_ready(pilot, ctx)
            want = forecast_for(info, screen.outcome.settings).forecast
            assert want is not None and want.n_ctx == ctx
            text = text_of(screen.query_one("#plan-forecast"), 200)
            assert "measured" in text and f"{want.document_tokens:,} tokens" in text
            assert fc.human_seconds(want.ingest_s) in text and f"{want.gen_tok_s:,.1f} tok/s" in text


def _cli_sampling_row(*args: str) -> str:
    """The value of `localctx plan`'s sampling row, through the real command (wide, so it is one line)."""
    from typer.testing import CliRunner

    from localctx.cli.app import app as cli

    r = CliRunner().invoke(cli, ["plan", *args], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    [row] = [line for line in r.stdout.splitlines() if line.strip("│ ").startswith("sampling ")]
    return row.strip("│ ").removeprefix("sampling").strip(" │")


async def test_the_sampling_in_effect_shows_as_plan_shows_it(smollm2_path: Path) -> None:
    from localctx.core.conversation import ChatOptions
    from localctx.core.flags import SamplingFlags

    # saved for the model, then flags over it: `plan` and the Plan screen layer them the same way
    assert _cli_sampling_row(str(smollm2_path), "--ctx", "2048", "--dry-multiplier", "0.5", "--save") != ""
    want = _cli_sampling_row(str(smollm2_path), "--ctx", "2048", "--temp", "0.7", "--top-k", "20")
    assert "--temp 0.7" in want and "--top-k 20" in want and "--dry-multiplier 0.5" in want
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048),
                   chat_options=ChatOptions(sampling_flags=SamplingFlags(temp=0.7, top_k=20)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await plan_ready(pilot, 2048)
        shown = " ".join(text_of(screen.query_one("#plan-sampling"), 76).split())
        assert shown == f"Sampling: {want}"
        assert "--dry-multiplier 0.5" in text_of(screen.query_one("#plan-notes"), 200)  # said to be the saved one


async def test_the_default_sampling_shows_without_flags(smollm2_path: Path) -> None:
    want = _cli_sampling_row(str(smollm2_path), "--ctx", "2048")
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await plan_ready(pilot, 2048)
        assert " ".join(text_of(screen.query_one("#plan-sampling"), 76).split()) == f"Sampling: {want}"
        assert "--temp 0" in want and "--top-k" not in want  # greedy: what does not apply is not shown
