"""A kept file the services skip because it is unusable (``StateWarning``) is said in the terminal UI as a
warning notification naming the file, whichever thread read it: the Models screen's worker reads the
model registry, the Plan screen's planning (on the app's own thread) reads the speed calibration.  A
line on stderr would be lost under the screen.  After the app, warnings go where they went before."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from textual.widgets import DataTable

from localctx import paths
from localctx.core import forecast as fc
from localctx.core.flags import RuntimeFlags
from localctx.core.model_info import read_model_info
from localctx.core.settings import RuntimeSettings
from localctx.services.forecast import store_calibration
from localctx.tui.app import make_app
from tests.tui._helpers import wait_until
from tests.tui.conftest import FIXED_MACHINE

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("error::localctx.errors.StateWarning")]
GARBAGE = b"\xff\xfe\x00 not TOML \x80" * 8


def warnings_shown(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications if n.severity == "warning"]  # private: textual 8.2


async def test_a_damaged_registry_read_by_a_worker_is_a_warning_notification() -> None:
    registry = paths.ensure(paths.registry_file().parent) / paths.registry_file().name
    registry.write_bytes(GARBAGE)
    before = warnings.showwarning
    app = make_app(machine=FIXED_MACHINE, mode="models")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        table = app.screen.query_one(DataTable)
        seen: list[str] = []

        def said_once() -> bool:  # read as soon as it shows: a notification goes away after its timeout
            seen.extend(m for m in warnings_shown(app) if str(registry) in m and m not in seen)
            return bool(seen)

        await wait_until(pilot, said_once, what="the registry's warning")
        await wait_until(pilot, lambda: table.row_count > 0 and not table.loading, what="the catalog")
        [said] = seen
        assert "the model registry is damaged" in said and "move it aside" in said  # the file and the fix
        assert "smollm2" in [str(table.get_row_at(i)[0]) for i in range(table.row_count)]  # the rest still lists
    assert warnings.showwarning is before  # put back when the app ends


async def test_a_damaged_calibration_read_while_planning_is_a_warning_notification(smollm2_path: Path) -> None:
    info = read_model_info(smollm2_path)
    settings = RuntimeSettings(n_threads=1)
    segs = [fc.Segment(fc.PROMPT, d, 128, 100.0 + d / 100) for d in (0, 256, 512)]
    segs += [fc.Segment(fc.GEN, d, 8, 40.0 + d / 100) for d in (0, 256, 512)]
    store_calibration(info, settings, segs)
    [calibration] = [p for p in paths.forecast_dir().rglob("*.json") if "probe" not in p.name]
    calibration.write_bytes(GARBAGE)
    app = make_app(machine=FIXED_MACHINE, model=str(smollm2_path), flags=RuntimeFlags(ctx=2048, threads=1))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.outcome is not None, what="a plan")
        await wait_until(pilot, lambda: any(str(calibration) in m for m in warnings_shown(app)),
                         what="the calibration's warning")
        assert "Speed: not calibrated" in str(screen.query_one("#plan-forecast").content)  # planned without it
