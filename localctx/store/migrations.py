"""Named schema migrations, applied in order and recorded in ``_localctx_migrations``.

Schema history is a list of named steps, not a package version: each step runs once per database,
in list order, and its name is recorded in the same transaction, so an interrupted upgrade leaves
either the old schema or the new one.  Each step takes SQLite's write lock first (``BEGIN IMMEDIATE``)
and looks again whether it is still missing: several processes opening a new database at once (four
chats on an empty home) apply each step exactly once instead of racing to create the same table.
Each step has its own test (tests/store/test_migrations.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration, under its function name."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def applied(db: sqlite3.Connection) -> list[str]:
    db.execute("CREATE TABLE IF NOT EXISTS _localctx_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    return [r[0] for r in db.execute("SELECT name FROM _localctx_migrations ORDER BY rowid")]


def migrate(db: sqlite3.Connection, upto: str | None = None) -> list[str]:
    """Apply the missing migrations (all, or up to and including ``upto``); return their names."""
    done = set(applied(db))
    ran: list[str] = []
    for name, fn in MIGRATIONS:
        if name not in done and _apply(db, name, fn):
            ran.append(name)
        if name == upto:
            break
    return ran


def _apply(db: sqlite3.Connection, name: str, fn: Migration) -> bool:
    """Run one step in its own write transaction unless another process did it first; True if it ran."""
    if db.in_transaction:
        db.commit()
    db.execute("BEGIN IMMEDIATE")  # the write lock, before the schema is read again
    try:
        if name in applied(db):
            db.commit()
            return False
        fn(db)
        db.execute("INSERT INTO _localctx_migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return True


@migration
def m001_sessions_and_turns(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            model TEXT NOT NULL,          -- resolved model path
            system TEXT,                  -- the user's system prompt (documents are stored apart)
            settings TEXT NOT NULL,       -- RuntimeSettings as JSON
            overflow TEXT NOT NULL DEFAULT 'refuse'
        )"""
    )
    db.execute(
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            user TEXT NOT NULL,
            assistant TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (session_id, idx)
        )"""
    )


@migration
def m002_documents(db: sqlite3.Connection) -> None:
    """Keep document text content-addressed, so a session resumes even if its file moved or changed."""
    db.execute(
        """CREATE TABLE documents (
            sha256 TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            text TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE session_documents (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES documents(sha256),
            path TEXT NOT NULL,
            PRIMARY KEY (session_id, position)
        )"""
    )


@migration
def m003_turn_metrics(db: sqlite3.Connection) -> None:
    """Per-turn numbers (tokens, timings) and whether the reply was stopped by the user."""
    for col in (
        "prompt_tokens INTEGER NOT NULL DEFAULT 0",
        "evaluated_tokens INTEGER NOT NULL DEFAULT 0",
        "reply_tokens INTEGER NOT NULL DEFAULT 0",
        "ttft_ms REAL",
        "gen_tok_s REAL",
        "stopped INTEGER NOT NULL DEFAULT 0",
    ):
        db.execute(f"ALTER TABLE turns ADD COLUMN {col}")
    db.execute("CREATE INDEX turns_by_session ON turns (session_id, idx)")
