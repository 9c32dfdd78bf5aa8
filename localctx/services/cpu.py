"""This machine's load against its cores, for a run with given threads (core.cpu_load judges it).

``LOCALCTX_LOAD=LOAD[,CORES]`` (e.g. ``3.5,2``) replaces what is read here: another machine's load,
or a fixed one for tests.
"""

from __future__ import annotations

import os

from localctx.core.cpu_load import CpuLoad
from localctx.errors import LocalctxError, SettingsError

LOAD_ENV = "LOCALCTX_LOAD"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1  # the cores this process may use (a container's share)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _override() -> tuple[float, int | None] | None:
    text = os.environ.get(LOAD_ENV)
    if not text:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        load = float(parts[0])
        cores = int(parts[1]) if len(parts) == 2 else None
    except ValueError:
        raise SettingsError(f"cannot read {LOAD_ENV}='{text}'", "use LOAD or LOAD,CORES such as 3.5,2") from None
    if len(parts) > 2 or load < 0 or (cores is not None and cores < 1):
        raise SettingsError(f"cannot read {LOAD_ENV}='{text}'", "use LOAD or LOAD,CORES such as 3.5,2")
    return load, cores


def cpu_load(threads: int | None) -> CpuLoad | None:
    """The 1-minute load average and the cores, for a run with ``threads`` (None: llama.cpp's default,
    one per physical core); None where the system keeps no load average."""
    from localctx.engine.params import default_threads

    given = _override()
    if given is not None:
        load, cores = given[0], given[1] or _cores()
        default = given[1] or default_threads()  # another machine's cores: its default is one per core
    else:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return None
        cores, default = _cores(), default_threads()
    return CpuLoad(load, cores, threads or default, threads is not None)


def load_now(threads: int | None) -> CpuLoad | None:
    """``cpu_load`` for what only informs (a forecast): None instead of an error."""
    try:
        return cpu_load(threads)
    except LocalctxError:  # a LOCALCTX_LOAD that cannot be read
        return None
