"""The KV state cache with the real llama.cpp engine: one checksum, races that crash nobody, a full disk
that costs only the cache, orphaned partials found and evicted."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localctx.core.settings import RuntimeSettings
from localctx.services import state_cache as sc
from localctx.services.state_cache import StateCache
from tests.services.test_chat import make_document
from tests.slowness import scaled

pytestmark = pytest.mark.model
REPO = Path(__file__).resolve().parents[2]
KEY = "k" * 32


@pytest.fixture(scope="module")
def engine(smollm2_path: Path):
    from localctx.engine.llamacpp import LlamaEngine

    e = LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=256, n_threads=1))
    e.ingest(e.tokenize("The archivist catalogued letters about salt and bridges."))
    yield e
    e.close()


def _counting_hash(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = sc._sha256_file

    def counted(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(sc, "_sha256_file", counted)
    return calls


def test_one_checksum_on_save_and_one_on_load(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_hash(monkeypatch)
    cache = StateCache(tmp_path)
    tokens = engine.cached_tokens
    entry = cache.save(engine, KEY)
    assert entry is not None and len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{KEY}.kvmeta", f"{KEY}.kvstate"]
    assert entry.fingerprint == engine.fingerprint()
    assert cache.load(engine, KEY, tokens).status == "hit" and len(calls) == 2
    assert engine.cached_tokens == tokens


def test_stale_or_corrupt_states_are_rebuilt(engine, tmp_path: Path) -> None:
    cache, tokens = StateCache(tmp_path), engine.cached_tokens
    cache.save(engine, KEY)
    head = cache.header_path(KEY)
    meta = json.loads(head.read_text())
    meta["fingerprint"]["n_ctx"] = 512
    head.write_text(json.dumps(meta))
    r = cache.load(engine, KEY, tokens)
    assert r.status == "rebuilt" and "stale" in r.reason and "n_ctx 512 != 256" in r.reason
    assert not any(tmp_path.iterdir())
    cache.save(engine, KEY)
    data = bytearray(cache.state_path(KEY).read_bytes())
    data[len(data) // 2] ^= 0xFF
    cache.state_path(KEY).write_bytes(bytes(data))
    assert cache.load(engine, KEY, tokens) == sc.Restore("rebuilt", "checksum mismatch")


@pytest.mark.parametrize("moment", ["after llama.cpp wrote the partial", "between the two renames"])
def test_a_clear_during_a_save_crashes_nobody(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              moment: str) -> None:
    cache, tokens = StateCache(tmp_path), engine.cached_tokens
    other = StateCache(tmp_path)  # what `localctx cache clear` in another process does
    if moment.startswith("after"):
        real_save = engine.save_state

        def save_then_clear(path: Path) -> None:
            real_save(path)
            other.clear()

        monkeypatch.setattr(engine, "save_state", save_then_clear)
        assert cache.save(engine, KEY) is None
        assert "removed while being written" in (cache.last_error or "")
    else:
        real_replace = os.replace
        seen: list[str] = []

        def replace_then_clear(src: str | Path, dst: str | Path) -> None:
            real_replace(src, dst)
            if not seen:
                seen.append(str(dst))
                other.clear()

        monkeypatch.setattr(sc.os, "replace", replace_then_clear)
        cache.save(engine, KEY)  # the header lands without its state
    monkeypatch.undo()
    r = cache.load(engine, KEY, tokens)  # a miss or a rebuild, never an exception
    assert r.status in ("miss", "rebuilt")
    assert cache.save(engine, KEY) is not None and cache.load(engine, KEY, tokens).status == "hit"
    assert not cache.partials()


_WRITER = """
import sys
from pathlib import Path
from localctx.core.settings import RuntimeSettings
from localctx.engine.llamacpp import LlamaEngine
from localctx.services.state_cache import StateCache
e = LlamaEngine(sys.argv[1], RuntimeSettings(n_ctx=256, n_threads=1))
e.ingest(e.tokenize("The archivist catalogued letters about salt and bridges."))
cache, failed = StateCache(Path(sys.argv[2])), 0
for _ in range(int(sys.argv[3])):
    failed += cache.save(e, sys.argv[4]) is None
    cache.load(e, sys.argv[4], e.cached_tokens)
print("failed", failed)
"""


def test_two_writers_and_a_clear_at_once(smollm2_path: Path, tmp_path: Path) -> None:
    """Two processes save and load one key 15 times each while this one clears the folder in a loop."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(smollm2_path), str(tmp_path), "15", KEY],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    clears = 0
    while any(w.poll() is None for w in writers):
        StateCache(tmp_path).clear()
        clears += 1
        time.sleep(0.005)  # pacing, not waiting: leave the writers some of a shared CPU
    for w in writers:
        out, err = w.communicate(timeout=scaled(300))
        assert w.returncode == 0 and "Traceback" not in err, err[-2000:]
        assert out.startswith("failed ")
    assert clears > 0
    cache = StateCache(tmp_path)
    cache.evict()
    assert not cache.partials()


def test_orphaned_partials_are_listed_and_evicted() -> None:
    """A partial whose process is gone (kill -9 mid-save) is counted, shown by `cache ls`, and evicted;
    one whose process still runs is a save in progress and stays."""
    from typer.testing import CliRunner

    from localctx.cli.app import app

    cache = StateCache()  # the user's cache folder (in this test's own home)
    cache.root.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    orphan = cache.root / f"{KEY}.kvstate.{dead_pid}-0a0b0c0d.partial"
    orphan.write_bytes(b"x" * 1000)
    live = cache.root / f"{'j' * 32}.kvstate.{os.getpid()}-01020304.partial"
    live.write_bytes(b"y" * 10)
    parts = {p.pid: p for p in cache.partials()}
    assert parts[dead_pid].size == 1000 and not parts[dead_pid].alive and parts[os.getpid()].alive
    assert cache.total_bytes() == 1010
    r = CliRunner().invoke(app, ["cache", "ls", "--json"])
    assert r.exit_code == 0, r.output
    listed = {p["path"]: p["orphaned"] for p in json.loads(r.stdout)["partials"]}
    assert listed == {str(orphan): True, str(live): False}
    r = CliRunner().invoke(app, ["cache", "ls"])
    assert "1 orphaned partial" in r.stderr, r.stderr
    cache.evict()
    assert [p.pid for p in cache.partials()] == [os.getpid()] and live.exists() and not orphan.exists()


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # any write past 1 MiB fails (EFBIG)


def test_a_full_disk_costs_the_cache_not_the_answer(tmp_path: Path) -> None:
    """`ask` with every file write capped at 1 MiB (the state is ~5 MiB): the answer, and a notice."""
    doc = tmp_path / "ledger.txt"
    doc.write_text(make_document(3))
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALCTX_HOME": str(tmp_path / "home")}
    p = subprocess.run([sys.executable, "-m", "localctx", "ask", "smollm2", "--file", str(doc), "Who opens it?",
                        "--ctx", "1024", "-n", "4", "-t", "1", "--json"], capture_output=True, text=True,
                       timeout=scaled(300), env=env, preexec_fn=_limit_file_size)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["answer"] and out["state_cache"] == "miss"
    assert "KV state was not saved" in p.stderr and "File too large" in p.stderr, p.stderr
    assert not list((tmp_path / "home").rglob("*.partial"))
