"""Processes that register models or open the session store at the same moment: nothing is lost.

Real processes (forked), started together behind a barrier so their read-modify-write of models.toml
and their first schema migration overlap."""

from __future__ import annotations

import multiprocessing as mp
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

N = 8


def _together(fn: Any, args: list[tuple[Any, ...]]) -> list[str]:
    """Run ``fn(barrier, *a)`` for each ``a`` in its own forked process; each returns "ok" or its error."""
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(len(args)), ctx.Queue()

    def run(i: int, a: tuple[Any, ...]) -> None:
        results.put((i, fn(barrier, *a)))

    procs = [ctx.Process(target=run, args=(i, a)) for i, a in enumerate(args)]
    for p in procs:
        p.start()
    out = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    return [out[i] for i in range(len(args))]


def _add(barrier: Any, gguf: str, name: str) -> str:
    from localctx.models.catalog import register_model

    barrier.wait()
    try:
        register_model(gguf, name)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which shows it
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _open_store(barrier: Any) -> str:
    from localctx.store import Store

    barrier.wait()
    try:
        Store(timeout=30).close()
    except Exception as exc:  # noqa: BLE001 - reported to the test, which shows it
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_parallel_models_add_keeps_every_name(tmp_path: Path, smollm2_path: Path) -> None:
    from localctx.models.catalog import registered_entries, registry_file

    for rnd in range(3):  # a lost update needs an unlucky interleaving: give it a few chances
        names = [f"m{rnd}-{i}" for i in range(N)]
        results = _together(_add, [(str(smollm2_path), n) for n in names])
        assert results == ["ok"] * N, results
        kept = tomllib.loads(registry_file().read_text("utf-8"))["models"]
        assert set(names) <= set(kept), sorted(set(names) - set(kept))
    assert {e.name for e in registered_entries()} == {f"m{r}-{i}" for r in range(3) for i in range(N)}
    assert not [p.name for p in registry_file().parent.iterdir() if p.suffix == ".tmp" or ".partial" in p.name]


@pytest.mark.parametrize("rnd", range(4))
def test_four_stores_opening_an_empty_home_at_once_all_migrate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               rnd: int) -> None:
    monkeypatch.setenv("LOCALCTX_HOME", str(tmp_path / f"home-{rnd}"))
    assert _together(_open_store, [()] * 4) == ["ok"] * 4
    from localctx.store import Store
    from localctx.store.migrations import MIGRATIONS, applied

    with Store() as store:
        assert applied(store.db) == [name for name, _ in MIGRATIONS]
