"""core.cpu_load: when the load average leaves too few cores for llama.cpp's threads, it says so."""

from __future__ import annotations

import pytest

from localctx.core.cpu_load import CpuLoad


@pytest.mark.parametrize("load, cores, threads, given, spare, busy, suggested", [
    (0.1, 2, 2, False, 2, False, 2),  # quiet: one thread per core is right
    (0.4, 2, 2, False, 2, False, 2),  # a little background noise rounds away
    (1.0, 2, 2, False, 1, True, 1),  # one core's worth of other work: two spinning threads collide
    (1.0, 2, 1, True, 1, False, 1),  # -t 1 fits the spare core
    (2.0, 2, 1, True, 0, True, 1),  # every core taken: even one thread shares its core
    (4.3, 2, 2, False, 0, True, 1),
    (3.0, 16, 16, False, 13, True, 13),  # a big machine: fewer threads, not one
    (3.0, 16, 8, True, 13, False, 8),
    (0.0, 1, 1, False, 1, False, 1),
])
def test_busy_is_threads_beyond_the_spare_cores(load: float, cores: int, threads: int, given: bool, spare: int,
                                                busy: bool, suggested: int) -> None:
    c = CpuLoad(load, cores, threads, given)
    assert (c.spare_cores, c.busy, c.suggested_threads) == (spare, busy, suggested)
    assert (c.notice() is not None) == busy == (c.forecast_note() is not None)
    assert c.to_json()["busy"] is busy and c.to_json()["notice"] == c.notice()


def test_the_notice_names_the_load_the_threads_and_the_fix() -> None:
    default = CpuLoad(2.31, 2, 2, threads_given=False).notice()
    assert default == ("this machine is busy (load average 2.31 on 2 cores, no spare core): the default of 2 "
                       "threads (one per core) competes with that work and can run many times slower; "
                       "-t 1 is faster now")
    given = CpuLoad(1.1, 2, 2, threads_given=True).notice()
    assert given is not None and "~1 spare" in given and "-t 2 competes" in given and "-t 1 is faster" in given
    one = CpuLoad(2.5, 2, 1, threads_given=True).notice()
    assert one is not None and "every thread shares its core" in one and "-t" not in one
    note = CpuLoad(2.5, 2, 1, threads_given=True).forecast_note()
    assert note is not None and note.startswith("measured on free cores, expect it slower now: this machine is busy")
    assert CpuLoad(0.2, 2, 2, False).threads_text == "2 (the default: one per core)"
    assert CpuLoad(0.2, 2, 1, True).threads_text == "1 (-t)"
