"""One llama.cpp thread for every model a test runs, and the check that no load forgets it.

llama.cpp's default is one thread per core, and its threads spin while they wait for each other: on a
shared machine (CI, other jobs, the suite's own subprocesses) two spinning threads on two busy cores
run 10-40x slower than one, and a test that takes 3 s alone hits its time limit.  So every test that
runs a model passes ``T1`` to the CLI (``[*LOCALCTX, "chat", "smollm2", *T1]``), ``threads=1`` to
RuntimeFlags or ``n_threads=1`` to RuntimeSettings / a flags dict.

tests/conftest.py sets ``LOCALCTX_REQUIRE_THREADS`` for the whole run (subprocesses inherit it): the
engine refuses every load (and ``rpc-server``) with the thread count unset and records it in a file the
suite reads after each test, so the test that did it fails even when it swallowed the refusal.
"""

from __future__ import annotations

from pathlib import Path

from localctx.engine.params import REQUIRE_THREADS_ENV, UNPINNED_MESSAGE

#: the CLI flags that pin a test's model to one thread
T1: tuple[str, str] = ("-t", "1")

__all__ = ["REQUIRE_THREADS_ENV", "T1", "UNPINNED_MESSAGE", "unpinned_loads"]


def unpinned_loads(log: Path) -> list[str]:
    """The refusals recorded in ``log``: one line per load without threads (none if there is no file)."""
    try:
        data = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in data.splitlines() if line.strip()]
