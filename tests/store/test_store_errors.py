"""SQLite failures on real database files: one line that says what to do, nothing committed lost."""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from localctx.store import Store, StoreError
from tests.slowness import scaled

REPO = Path(__file__).resolve().parents[2]


def _one_line(err: pytest.ExceptionInfo[StoreError], *words: str) -> str:
    line = err.value.one_line()
    assert "\n" not in line and all(w in line for w in words), line
    assert err.value.exit_code == 1
    return line


def _session_with_turns(path: Path) -> str:
    with Store(path) as store:
        s = store.create_session("m.gguf", {"n_ctx": 1024})
        store.add_turn(s.id, "first?", "one")
        store.add_turn(s.id, "second?", "two")
    return s.id


def test_a_full_disk_is_one_line_and_keeps_what_was_committed(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sid = _session_with_turns(db)
    with Store(db) as store:
        (pages,) = store.db.execute("PRAGMA page_count").fetchone()
        store.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL: no room for a page
        with pytest.raises(StoreError) as err:
            store.add_turn(sid, "a long question " * 2000, "and an answer " * 2000)
        _one_line(err, "disk is full", str(db), "free some space")
    with Store(db) as store:
        assert [(t.user, t.assistant) for t in store.turns(sid)] == [("first?", "one"), ("second?", "two")]


def test_a_lock_held_by_another_process_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sid = _session_with_turns(db)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with Store(db, timeout=0.05) as store, pytest.raises(StoreError) as err:
            store.add_turn(sid, "third?", "three")
        _one_line(err, "locked by another localctx process")
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Store(db) as store:
        assert len(store.turns(sid)) == 2


def test_a_read_only_store_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sid = _session_with_turns(db)
    with Store(db) as store:
        store.db.execute("PRAGMA query_only = 1")  # SQLite refuses every write: "readonly database"
        with pytest.raises(StoreError) as err:
            store.add_turn(sid, "third?", "three")
        _one_line(err, "not writable", "LOCALCTX_HOME")


def test_a_damaged_file_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as err:
        Store(db)
    _one_line(err, "damaged", "move it aside")


def _tiny_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))  # the database cannot grow past 2 KiB


def test_the_cli_on_a_full_disk_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALCTX_HOME": str(tmp_path / "home")}
    p = subprocess.run([sys.executable, "-m", "localctx", "sessions"], capture_output=True, text=True,
                       timeout=scaled(120), env=env, preexec_fn=_tiny_files)
    assert p.returncode == 1 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "session store" in lines[0] and "Traceback" not in p.stderr, p.stderr


@pytest.mark.parametrize("seed", range(12))
def test_flipped_bytes_in_a_wal_store_are_one_line_naming_it(tmp_path: Path, seed: int) -> None:
    """Bytes flipped anywhere in a checkpointed WAL database (the schema, a page header, stored text):
    `localctx sessions` lists what it can or says in one line that the store is damaged; after moving it
    aside, as the line says, a new store works."""
    import random

    from typer.testing import CliRunner

    from localctx.cli.app import app
    from localctx.store import default_db_path

    db = default_db_path()
    with Store(db) as store:
        s = store.create_session("m.gguf", {"n_ctx": 1024})
        for _ in range(30):
            store.add_turn(s.id, "q" * 200, "a" * 300)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    rnd = random.Random(seed)
    for _ in range(40):
        data[rnd.randrange(len(data))] ^= 0xFF
    db.write_bytes(bytes(data))
    r = CliRunner().invoke(app, ["sessions"])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    if r.exit_code != 0:
        lines = r.stderr.strip().splitlines()
        assert r.exit_code == 1 and len(lines) == 1 and str(db) in lines[0], r.stderr
        assert "damaged" in lines[0] and "move it aside" in lines[0], lines[0]
        db.rename(db.with_name(db.name + ".bad"))
        for side in db.parent.glob(db.name + "-*"):  # its -wal/-shm belong to the damaged file
            side.unlink()
        r = CliRunner().invoke(app, ["sessions"])
        assert r.exit_code == 0, r.stderr
