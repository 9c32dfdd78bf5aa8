"""The session store on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from localctx import paths
from localctx.errors import LocalctxError
from localctx.store import Document, Store


def test_default_location_is_under_data_dir_and_uses_wal() -> None:
    with Store() as store:
        assert store.path == paths.data_dir() / "localctx.db"
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_session_with_documents_and_turns_round_trips(tmp_path: Path) -> None:
    doc = Document(sha256="ab" * 32, name="a.txt", path="/x/a.txt", text="hello doc")
    with Store(tmp_path / "s.db") as store:
        s = store.create_session("m.gguf", {"n_ctx": 1024}, [doc], system="be brief", overflow="drop-oldest")
        store.add_turn(s.id, "first?", "one", prompt_tokens=50, evaluated_tokens=50, reply_tokens=2, ttft_ms=12.5)
        store.add_turn(s.id, "second?", "tw", stopped=True)
    # a second connection (another process would do the same) sees both committed turns
    with Store(tmp_path / "s.db") as store:
        got = store.session(s.id[:5])
        assert (got.model, got.system, got.overflow) == ("m.gguf", "be brief", "drop-oldest")
        assert got.settings == {"n_ctx": 1024}
        assert got.documents == [doc]
        assert got.n_turns == 2 and got.title == "first?"
        turns = store.turns(s.id)
        assert [(t.idx, t.user, t.assistant, t.stopped) for t in turns] == [
            (0, "first?", "one", False), (1, "second?", "tw", True)]
        assert turns[0].ttft_ms == 12.5 and turns[0].prompt_tokens == 50


def test_documents_are_shared_and_listing_is_most_recent_first(tmp_path: Path) -> None:
    doc = Document(sha256="cd" * 32, name="b.txt", path="/b.txt", text="same text")
    with Store(tmp_path / "s.db") as store:
        a = store.create_session("m", {}, [doc])
        b = store.create_session("m", {}, [doc])
        store.add_turn(a.id, "later", "x")
        assert [s.id for s in store.sessions()] == [a.id, b.id]
        assert store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 1
        store.delete_session(a.id)
        assert store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 1
        store.delete_session(b.id)
        assert store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 0
        assert store.db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0


def test_unknown_or_ambiguous_session_is_a_clear_error(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(LocalctxError, match="no session 'zz'"):
            store.session("zz")
        ids = {store.create_session("m", {}).id for _ in range(40)}
        # 40 random 8-hex ids: some share a first hex digit
        first = [i[0] for i in ids]
        dup = next(c for c in first if first.count(c) > 1)
        with pytest.raises(LocalctxError, match="ambiguous"):
            store.session(dup)


def test_turn_is_committed_immediately(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    s = store.create_session("m", {})
    store.add_turn(s.id, "q", "a")
    # read with a raw, separate connection while the store is still open (no close, no checkpoint)
    other = sqlite3.connect(tmp_path / "s.db")
    assert other.execute("SELECT user, assistant FROM turns").fetchall() == [("q", "a")]
    other.close()
    store.close()


def test_the_clock_stamps_sessions_and_used_before_picks_the_old_ones(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db", clock=lambda: 1_000.0) as old, Store(tmp_path / "s.db", clock=lambda: 5_000.0) as new:
        a = old.create_session("m", {})
        old.add_turn(a.id, "q", "a")
        b = new.create_session("m", {})
        assert (old.session(a.id).created_at, old.session(a.id).updated_at) == (1_000.0, 1_000.0)
        assert [s.id for s in new.sessions(used_before=5_000.0)] == [a.id]
        assert {s.id for s in new.sessions(used_before=5_000.1)} == {a.id, b.id}
        assert new.sessions(used_before=1_000.0) == []


def test_delete_sessions_is_one_transaction_and_counts_the_text_that_goes(tmp_path: Path) -> None:
    kept = Document(sha256="ef" * 32, name="kept.txt", path="/k", text="shared é")  # é: bytes, not characters
    own = Document(sha256="01" * 32, name="own.txt", path="/o", text="only mine")
    with Store(tmp_path / "s.db") as store:
        a, b, c = (store.create_session("m", {}, docs) for docs in ([kept, own], [kept], [kept]))
        store.add_turn(a.id, "qé", "ans")
        assert store.delete_sessions([a.id, b.id], dry_run=True) == len("qéans".encode()) + len("only mine")
        assert len(store.sessions()) == 3  # a dry run deletes nothing
        assert store.delete_sessions([a.id, a.id, b.id]) == len("qéans".encode()) + len("only mine")
        assert [s.id for s in store.sessions()] == [c.id]
        assert store.db.execute("SELECT name FROM documents").fetchall() == [("kept.txt",)]
        assert store.delete_sessions([]) == 0
