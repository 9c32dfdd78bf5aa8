"""Each named migration, applied to the schema before it, keeps the rows and adds what it says."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from localctx.store import Store
from localctx.store.migrations import MIGRATIONS, applied, migrate


def _cols(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def test_names_are_unique_and_ordered() -> None:
    names = [n for n, _ in MIGRATIONS]
    assert len(set(names)) == len(names)
    assert names == sorted(names)


def test_fresh_database_gets_every_migration_once(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db")
    assert migrate(db) == [n for n, _ in MIGRATIONS]
    assert applied(db) == [n for n, _ in MIGRATIONS]
    assert migrate(db) == []  # idempotent


def test_m001_creates_sessions_and_turns(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db")
    assert migrate(db, upto="m001_sessions_and_turns") == ["m001_sessions_and_turns"]
    assert _cols(db, "sessions") == ["id", "created_at", "updated_at", "model", "system", "settings", "overflow"]
    assert _cols(db, "turns") == ["id", "session_id", "idx", "user", "assistant", "created_at"]


def test_m002_adds_documents_and_keeps_sessions(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db")
    migrate(db, upto="m001_sessions_and_turns")
    with db:
        db.execute("INSERT INTO sessions VALUES ('s1', 1, 2, 'm.gguf', NULL, '{}', 'refuse')")
    assert migrate(db, upto="m002_documents") == ["m002_documents"]
    assert _cols(db, "documents") == ["sha256", "name", "text"]
    assert _cols(db, "session_documents") == ["session_id", "position", "sha256", "path"]
    assert db.execute("SELECT id, model FROM sessions").fetchall() == [("s1", "m.gguf")]


def test_m003_adds_turn_metrics_with_defaults_for_old_rows(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db")
    migrate(db, upto="m002_documents")
    with db:
        db.execute("INSERT INTO sessions VALUES ('s1', 1, 2, 'm.gguf', NULL, '{}', 'refuse')")
        db.execute("INSERT INTO turns (session_id, idx, user, assistant, created_at) VALUES ('s1', 0, 'q', 'a', 3)")
    assert migrate(db) == ["m003_turn_metrics"]
    cols = _cols(db, "turns")
    for c in ("prompt_tokens", "evaluated_tokens", "reply_tokens", "ttft_ms", "gen_tok_s", "stopped"):
        assert c in cols
    row = db.execute("SELECT user, assistant, prompt_tokens, ttft_ms, stopped FROM turns").fetchone()
    assert row == ("q", "a", 0, None, 0)
    db.close()
    # the Store opens the migrated file and reads the old turn
    with Store(tmp_path / "x.db") as store:
        assert [t.assistant for t in store.turns("s1")] == ["a"]
