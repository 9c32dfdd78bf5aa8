"""TUI fixtures: a fixed machine (snapshots must not depend on this host's free RAM), anyio on asyncio."""

from __future__ import annotations

import pytest

from localctx.services.machine import MachineMemory

#: 16 GiB of RAM with 12 GiB free and no GPU: every test and snapshot plans against this
FIXED_MACHINE = MachineMemory(ram_total=16 << 30, ram_available=12 << 30)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def machine() -> MachineMemory:
    return FIXED_MACHINE


@pytest.fixture(autouse=True)
def error_notifications_last_as_long_as_the_machine_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error notification stays up 10 s on a quiet machine; a test that checks for it after slow work
    on a busy one would find it gone, so its time on screen stretches with the measured slowness."""
    from localctx.tui import app
    from tests.slowness import scaled

    monkeypatch.setattr(app, "ERROR_TIMEOUT", scaled(app.ERROR_TIMEOUT))
