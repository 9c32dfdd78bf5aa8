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
