"""The session store: SQLite (WAL) under the user data dir, the SQL hidden behind ``Store``.

Every turn is committed by ``add_turn`` before the caller can take the next prompt, so a process
killed mid-reply loses only the reply in flight (tests/cli/test_chat.py kills one with SIGKILL).
Every SQLite failure (a full disk, a lock held by another process, a read-only or damaged file, text
that no longer decodes) leaves ``Store`` as a ``StoreError``: one line that says what happened and what
to do.  A failing write rolls back its own transaction only; what was committed before stays.
"""

from __future__ import annotations

import functools
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from localctx import paths
from localctx.errors import LocalctxError
from localctx.store.migrations import migrate


@dataclass(frozen=True)
class Document:
    """A document's text as it was placed in a conversation (content-addressed by sha256)."""

    sha256: str
    name: str
    path: str
    text: str


@dataclass(frozen=True)
class Turn:
    session_id: str
    idx: int
    user: str
    assistant: str
    created_at: float
    prompt_tokens: int = 0  # the whole rendered prompt of this turn
    evaluated_tokens: int = 0  # of which llama.cpp evaluated (the rest came from the KV cache)
    reply_tokens: int = 0
    ttft_ms: float | None = None
    gen_tok_s: float | None = None
    stopped: bool = False  # the user stopped the reply; the partial text is kept


@dataclass(frozen=True)
class Session:
    id: str
    created_at: float
    updated_at: float
    model: str
    system: str | None
    settings: dict[str, Any]
    overflow: str
    n_turns: int = 0
    documents: list[Document] = field(default_factory=list)
    title: str = ""  # the first question, for listings


def default_db_path() -> Path:
    return paths.session_db()


class StoreError(LocalctxError):
    """SQLite could not read or write the session store."""

    exit_code = 1


def store_error(path: Path, exc: BaseException) -> StoreError:
    """The SQLite (or OS) error as one line naming the file, what happened and what to do."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if path.is_dir():
        return StoreError(f"the session store {path} is a folder, not a file", f"remove the folder {path}")
    low = msg.lower()
    if isinstance(exc, ValueError) or "no such column" in low or "no such table" in low or "decode" in low:
        low = "malformed"  # undecodable text or JSON, a schema missing what its migrations recorded
    if "full" in low or "disk i/o" in low or "no space" in low or "too large" in low:
        return StoreError(f"the session store {path} cannot be written: the disk is full or failing ({msg})",
                          f"free some space on {path.parent}; sessions saved before are intact")
    if "locked" in low or "busy" in low:
        return StoreError(f"the session store {path} is locked by another localctx process ({msg})",
                          "finish or close the other chat, then try again")
    if "readonly" in low or "read-only" in low or "unable to open" in low or "permission" in low \
            or "not a directory" in low:
        return StoreError(f"the session store {path} is not writable ({msg})",
                          f"check the permissions of {path.parent}, or set LOCALCTX_HOME to a writable folder")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return StoreError(f"the session store {path} is damaged ({msg})",
                          f"move it aside (e.g. to {path.name}.bad) to start a new one")
    return StoreError(f"the session store {path} failed: {msg}", "try again; if it repeats, run `localctx doctor`")


_F = TypeVar("_F", bound=Callable[..., Any])
#: the turns table's columns that map one to one onto Turn fields (``stopped`` is stored as 0/1)
_TURN_COLUMNS = ("session_id", "idx", "user", "assistant", "created_at", "prompt_tokens", "evaluated_tokens",
                 "reply_tokens", "ttft_ms", "gen_tok_s")


def _translated(method: _F) -> _F:
    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise store_error(self.path, exc) from None

    return cast(_F, wrapper)


class Store:
    def __init__(self, path: Path | None = None, *, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        """``clock`` stamps new sessions and turns (a test ages sessions with it instead of sleeping)."""
        self.path = Path(path) if path else default_db_path()
        self.clock = clock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=timeout)
        except (sqlite3.Error, OSError) as exc:
            raise store_error(self.path, exc) from None
        # switching a new file to WAL and its first migration can meet another process doing the same;
        # SQLite answers some of those moments "locked" without waiting, so the setup is retried for as
        # long as a locked statement would have waited
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA foreign_keys=ON")
                migrate(self.db)
                return
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc).lower() and time.monotonic() < deadline:
                    if self.db.in_transaction:
                        self.db.rollback()
                    time.sleep(0.05)
                    continue
                self.db.close()
                raise store_error(self.path, exc) from None
            except (sqlite3.Error, OSError, ValueError) as exc:
                self.db.close()
                raise store_error(self.path, exc) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- sessions --------------------------------------------------------------------------
    @_translated
    def create_session(
        self,
        model: str,
        settings: dict[str, Any],
        documents: Sequence[Document] = (),
        system: str | None = None,
        overflow: str = "refuse",
    ) -> Session:
        sid = secrets.token_hex(4)
        now = self.clock()
        with self.db:
            self.db.execute(
                "INSERT INTO sessions (id, created_at, updated_at, model, system, settings, overflow)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sid, now, now, model, system, json.dumps(settings, default=str), overflow),
            )
            for pos, doc in enumerate(documents):
                self.db.execute(
                    "INSERT OR IGNORE INTO documents (sha256, name, text) VALUES (?, ?, ?)",
                    (doc.sha256, doc.name, doc.text),
                )
                self.db.execute(
                    "INSERT INTO session_documents (session_id, position, sha256, path) VALUES (?, ?, ?, ?)",
                    (sid, pos, doc.sha256, doc.path),
                )
        return self.session(sid)

    @_translated
    def matching_ids(self, ref: str) -> list[str]:
        """The ids that start with ``ref`` (none: unknown; several: ambiguous)."""
        pattern = ref.replace("%", "").replace("_", "") + "%"
        return [r[0] for r in self.db.execute("SELECT id FROM sessions WHERE id LIKE ? ORDER BY id", (pattern,))]

    @_translated
    def set_prefix(self, session_id: str, system: str | None, documents: Sequence[Document]) -> None:
        """A session's system prompt and documents as they are now (changed during the chat), so that a
        resume renders the conversation the chat went on with."""
        with self.db:
            self.db.execute("UPDATE sessions SET system = ?, updated_at = ? WHERE id = ?",
                            (system, self.clock(), session_id))
            self.db.execute("DELETE FROM session_documents WHERE session_id = ?", (session_id,))
            for pos, doc in enumerate(documents):
                self.db.execute("INSERT OR IGNORE INTO documents (sha256, name, text) VALUES (?, ?, ?)",
                                (doc.sha256, doc.name, doc.text))
                self.db.execute(
                    "INSERT INTO session_documents (session_id, position, sha256, path) VALUES (?, ?, ?, ?)",
                    (session_id, pos, doc.sha256, doc.path))

    @_translated
    def session(self, ref: str) -> Session:
        """A session by id or unique id prefix."""
        rows = self.db.execute(
            "SELECT id, created_at, updated_at, model, system, settings, overflow FROM sessions WHERE id LIKE ?",
            (ref.replace("%", "").replace("_", "") + "%",),
        ).fetchall()
        if not rows:
            raise LocalctxError(f"no session '{ref}'", "see `localctx sessions` for the saved sessions")
        if len(rows) > 1:
            raise LocalctxError(f"session id '{ref}' is ambiguous ({len(rows)} match)",
                                "give more characters of the id")
        return self._session(rows[0], with_documents=True)

    @_translated
    def sessions(self, limit: int | None = None, *, used_before: float | None = None) -> list[Session]:
        """Sessions, most recently used first (documents' text not loaded); ``used_before``: only those
        whose last turn is older than that time."""
        sql = "SELECT id, created_at, updated_at, model, system, settings, overflow FROM sessions"
        args: tuple[float, ...] = ()
        if used_before is not None:
            sql, args = sql + " WHERE updated_at < ?", (used_before,)
        sql += " ORDER BY updated_at DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [self._session(r, with_documents=False) for r in self.db.execute(sql, args).fetchall()]

    def _session(self, row: tuple, with_documents: bool) -> Session:
        sid = row[0]
        n, title = self.db.execute(
            "SELECT COUNT(*), (SELECT user FROM turns WHERE session_id = ? ORDER BY idx LIMIT 1)"
            " FROM turns WHERE session_id = ?",
            (sid, sid),
        ).fetchone()
        docs = self.documents(sid, with_text=with_documents)
        return Session(
            id=sid, created_at=row[1], updated_at=row[2], model=row[3], system=row[4],
            settings=json.loads(row[5]), overflow=row[6], n_turns=n, documents=docs,
            title=(title or "").strip().splitlines()[0][:80] if title and title.strip() else "",
        )

    @_translated
    def documents(self, session_id: str, with_text: bool = True) -> list[Document]:
        text_col = "d.text" if with_text else "''"
        rows = self.db.execute(
            f"SELECT d.sha256, d.name, sd.path, {text_col} FROM session_documents sd"
            " JOIN documents d ON d.sha256 = sd.sha256 WHERE sd.session_id = ? ORDER BY sd.position",
            (session_id,),
        ).fetchall()
        return [Document(sha256=r[0], name=r[1], path=r[2], text=r[3]) for r in rows]

    @_translated
    def delete_session(self, session_id: str) -> None:
        self.delete_sessions([session_id])

    @_translated
    def delete_sessions(self, session_ids: Sequence[str], *, dry_run: bool = False) -> int:
        """Delete these sessions (exact ids) with their turns, and the document texts no other session
        keeps, in one transaction: all of them or none.  Returns the bytes of text that went (turns and
        documents; SQLite reuses that room for new sessions rather than shrinking the file).
        ``dry_run``: only count them."""
        ids = list(dict.fromkeys(session_ids))
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self.db:
            (turn_bytes,) = self.db.execute(
                "SELECT COALESCE(SUM(LENGTH(CAST(user AS BLOB)) + LENGTH(CAST(assistant AS BLOB))), 0)"
                f" FROM turns WHERE session_id IN ({marks})", ids).fetchone()
            (doc_bytes,) = self.db.execute(
                "SELECT COALESCE(SUM(LENGTH(CAST(text AS BLOB))), 0) FROM documents WHERE sha256 IN"
                f" (SELECT sha256 FROM session_documents WHERE session_id IN ({marks})) AND sha256 NOT IN"
                f" (SELECT sha256 FROM session_documents WHERE session_id NOT IN ({marks}))", ids + ids).fetchone()
            if not dry_run:
                self.db.execute(f"DELETE FROM sessions WHERE id IN ({marks})", ids)
                self.db.execute("DELETE FROM documents WHERE sha256 NOT IN (SELECT sha256 FROM session_documents)")
        return int(turn_bytes) + int(doc_bytes)

    # ---- turns -----------------------------------------------------------------------------
    @_translated
    def add_turn(
        self,
        session_id: str,
        user: str,
        assistant: str,
        *,
        prompt_tokens: int = 0,
        evaluated_tokens: int = 0,
        reply_tokens: int = 0,
        ttft_ms: float | None = None,
        gen_tok_s: float | None = None,
        stopped: bool = False,
    ) -> Turn:
        """Append a completed turn and commit it (durable before the next prompt is read)."""
        now = self.clock()
        with self.db:
            (idx,) = self.db.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()
            self.db.execute(
                "INSERT INTO turns (session_id, idx, user, assistant, created_at, prompt_tokens, evaluated_tokens,"
                " reply_tokens, ttft_ms, gen_tok_s, stopped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, idx, user, assistant, now, prompt_tokens, evaluated_tokens, reply_tokens,
                 ttft_ms, gen_tok_s, int(stopped)),
            )
            self.db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))
        return self.turns(session_id)[-1]

    @_translated
    def turns(self, session_id: str) -> list[Turn]:
        rows = self.db.execute(
            f"SELECT {', '.join(_TURN_COLUMNS)}, stopped FROM turns WHERE session_id = ? ORDER BY idx",
            (session_id,),
        ).fetchall()
        return [Turn(**dict(zip(_TURN_COLUMNS, r[:-1], strict=True)), stopped=bool(r[-1])) for r in rows]
