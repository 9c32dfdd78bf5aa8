"""What piles up, removed on purpose: `sessions rm ID…` and `sessions rm --older-than AGE` (with the KV
states only those sessions used), and summary checkpoints listed by `cache ls` and cleared by
`cache clear` — on a real SQLite store, real state files and a real summarize run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from localctx import paths
from localctx.cli.app import app
from localctx.core.conversation import ChatOptions
from localctx.core.settings import RuntimeSettings
from localctx.services.state_cache import StateCache
from localctx.store import Store
from localctx.store.store import Document

runner = CliRunner()
DAY = 86400.0


def cli(*args: str, code: int = 0) -> Result:
    r = runner.invoke(app, list(args))
    assert r.exit_code == code, (args, r.output)
    assert "Traceback" not in r.output
    return r


def saved_ids() -> set[str]:
    return {s["id"] for s in json.loads(cli("sessions", "--json").stdout)}


def doc(name: str, text: str) -> Document:
    import hashlib

    return Document(sha256=hashlib.sha256(text.encode()).hexdigest(), name=name, path=f"/docs/{name}", text=text)


def session(store: Store, docs: list[Document], question: str = "What is due?", answer: str = "Rent.") -> str:
    s = store.create_session("/models/SmolLM2-135M-Instruct.Q4_1.gguf", {"n_ctx": 2048}, docs)
    store.add_turn(s.id, question, answer)
    return s.id


# ---- by ID -----------------------------------------------------------------------------------------
def test_rm_several_ids_removes_each_says_which_and_the_room_freed() -> None:
    shared, own = doc("lease.txt", "The rent is due on the first. " * 40), doc("memo.txt", "Buy lanterns. " * 30)
    with Store() as store:
        a, b, c = session(store, [shared, own]), session(store, [shared]), session(store, [shared])

    r = cli("sessions", "rm", a, b[:5], "--json")  # an ID and a unique prefix
    data = json.loads(r.stdout)
    assert sorted(s["id"] for s in data["sessions"]) == sorted([a, b]) and not data["dry_run"]
    # the memo's text went with the only session that had it; the lease stays for c
    turn_text = 2 * len(b"What is due?Rent.")
    assert data["session_bytes"] == turn_text + len(own.text.encode())
    assert data["freed_bytes"] == data["session_bytes"] + data["state_bytes"] and data["states_removed"] == []
    assert saved_ids() == {c}
    with Store() as store:
        assert store.session(c).documents[0].text == shared.text

    with Store() as store:
        d, e = session(store, [own]), session(store, [])
    r = cli("sessions", "rm", d, e)
    assert r.stdout == ""
    line = r.stderr.strip()
    assert line.startswith("removed 2 sessions (") and d in line and e in line and "freed" in line, line
    assert "KiB" in line or " B" in line  # a size a person reads
    assert saved_ids() == {c}


def test_an_unknown_or_ambiguous_id_removes_nothing() -> None:
    with Store() as store:
        a, b = session(store, []), session(store, [])
    r = cli("sessions", "rm", a, "feedbeef", code=2)
    assert r.stderr.count("\n") == 1 and "no session 'feedbeef'" in r.stderr and "nothing was removed" in r.stderr
    r = cli("sessions", "rm", a, "", code=2)  # an empty prefix matches every session
    assert r.stderr.count("\n") == 1 and "matches 2 sessions" in r.stderr
    assert saved_ids() == {a, b}


@pytest.mark.parametrize(("args", "says"), [
    (["rm"], "say which sessions to remove"),
    (["rm", "--older-than", "30"], "cannot read --older-than '30'"),  # a bare number: days or seconds?
    (["rm", "--older-than", "30y"], "cannot read --older-than '30y'"),
    (["rm", "--older-than", "0d"], "must be longer than 0"),
    (["rm", "--older-than", "-3d"], "cannot read --older-than '-3d'"),
    (["rm", "--older-than", "200000w"], "longer than a century"),
    (["rm", "abcd", "--older-than", "1d"], "not both"),  # one way at a time
])
def test_bad_requests_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    with Store() as store:
        kept = session(store, [])
    r = cli("sessions", *args, code=2)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and says in r.stderr, r.stderr
    assert saved_ids() == {kept}


# ---- by age ----------------------------------------------------------------------------------------
def test_older_than_takes_each_unit_and_dry_run_removes_nothing() -> None:
    now = time.time()
    ages = {"40 days": 40 * DAY, "10 days": 10 * DAY, "2 hours": 2 * 3600.0, "fresh": 0.0}
    ids = {}
    for label, age in ages.items():
        with Store(clock=lambda age=age: now - age) as store:  # timestamps set through the store's clock
            ids[label] = session(store, [], question=f"asked {label} ago")

    r = cli("sessions", "rm", "--older-than", "30d", "--dry-run")
    assert ids["40 days"] in r.stdout and ids["10 days"] not in r.stdout  # the same table as `sessions`
    assert "would remove 1 session" in r.stderr
    plan = json.loads(cli("sessions", "rm", "--older-than", "30d", "--dry-run", "--json").stdout)
    assert plan["dry_run"] and [s["id"] for s in plan["sessions"]] == [ids["40 days"]]
    assert saved_ids() == set(ids.values())  # nothing went

    cli("sessions", "rm", "--older-than", "30d")
    assert saved_ids() == set(ids.values()) - {ids["40 days"]}
    r = cli("sessions", "rm", "--older-than", "4w")  # 28 days: nothing that old is left
    assert "nothing to remove" in r.stderr
    cli("sessions", "rm", "--older-than", "1W")
    assert ids["10 days"] not in saved_ids()
    r = cli("sessions", "rm", "--older-than", "90m", "--json")
    assert [s["id"] for s in json.loads(r.stdout)["sessions"]] == [ids["2 hours"]]
    for age in ("3h", "7200s", "2d"):  # nothing left older than these
        assert json.loads(cli("sessions", "rm", "--older-than", age, "--json").stdout)["sessions"] == []
    assert saved_ids() == {ids["fresh"]}


# ---- KV states -------------------------------------------------------------------------------------
@pytest.mark.model
def test_a_state_goes_with_its_last_session_and_never_before(smollm2_path: Path, tmp_path: Path) -> None:
    from localctx.services.chat import ChatSession
    from localctx.services.runtime import load_engine

    lease, memo = tmp_path / "lease.txt", tmp_path / "memo.txt"
    lease.write_text("The rent of the harbour office is 410 crowns, due on the first of each month.\n" * 6)
    memo.write_text("The lantern order: 137 glass lanterns for the ferry to Oslo.\n" * 6)
    engine = load_engine(str(smollm2_path), RuntimeSettings(n_ctx=1024, n_threads=1))
    cache = StateCache()

    def chat(path: Path) -> str:
        with Store() as store, ChatSession.open("smollm2", [path], engine=engine, store=store, state_cache=cache,
                                                options=ChatOptions(reply_tokens=4)) as s:
            s.prepare()
            "".join(s.send("How much?"))
            assert s.session is not None
            return s.session.id

    try:
        first, second, other = chat(lease), chat(lease), chat(memo)  # the first two share one state
        keys = {tuple(e.documents): e.key for e in cache.entries()}
        assert set(keys) == {("lease.txt",), ("memo.txt",)}
        shared = keys[("lease.txt",)]

        r = cli("sessions", "rm", first, "--json")
        data = json.loads(r.stdout)
        assert data["states_removed"] == [] and [k["key"] for k in data["states_kept"]] == [shared]
        assert data["states_kept"][0]["why"] == "another session uses it"
        assert cache.state_path(shared).is_file()  # the other session still reopens instantly
        r = cli("sessions", "rm", other)
        assert "and 1 saved KV state" in r.stderr and not cache.state_path(keys[("memo.txt",)]).exists()

        # `ask` reads the lease's state after the second session's last turn: it is a document cache
        # something still uses, so removing the session keeps it
        with Store() as store:
            last_turn = store.session(second).updated_at
        while time.time() <= last_turn + 1.0:  # "after" means past the rule's one-second slack
            time.sleep(0.05)
        with ChatSession.open("smollm2", [lease], engine=engine, state_cache=cache, persist=False,
                              options=ChatOptions(reply_tokens=4)) as ask:
            assert ask.prepare().cache == "hit"
        r = cli("sessions", "rm", second)
        assert "kept 1 saved KV state" in r.stderr and "used after" in r.stderr
        assert cache.state_path(shared).is_file()

        third = chat(lease)  # a new session that uses it again, then goes: the state goes with it
        size = cache.state_path(shared).stat().st_size
        data = json.loads(cli("sessions", "rm", third, "--json").stdout)
        assert [s["key"] for s in data["states_removed"]] == [shared] and data["state_bytes"] == size
        assert not cache.state_path(shared).exists() and not cache.header_path(shared).exists()
        assert saved_ids() == set()
    finally:
        engine.close()


# ---- summary checkpoints ---------------------------------------------------------------------------
@pytest.mark.model
def test_checkpoints_of_a_real_summary_are_listed_and_cleared(tmp_path: Path) -> None:
    src = tmp_path / "ferry.txt"
    src.write_text("The ferry to Oslo leaves at nine. It carries 137 glass lanterns.\n")
    cli("summarize", str(src), "--ctx", "1024", "--threads", "1", "--length", "short")

    data = json.loads(cli("cache", "ls", "--json").stdout)
    (ckpt,) = data["summaries"]
    assert ckpt["source"] == str(src) and ckpt["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert ckpt["steps_done"] == 1 and ckpt["complete"] and ckpt["n_ctx"] == 1024
    assert ckpt["size"] == Path(ckpt["path"]).stat().st_size == data["summary_bytes"] > 0
    out = cli("cache", "ls").stdout
    assert "ferry.txt" in out and "1 done" in out
    assert any(u in out for u in (" B ", "KiB")), out  # human-readable size, not a byte count

    r = cli("cache", "clear", "--only", "states")
    assert "0 saved states" in r.stderr and "checkpoint" not in r.stderr
    assert len(json.loads(cli("cache", "ls", "--json").stdout)["summaries"]) == 1
    cleared = json.loads(cli("cache", "clear", "--json").stdout)
    assert cleared["summaries_removed"] == 1 and cleared["summary_bytes"] == ckpt["size"]
    assert cleared["freed_bytes"] == cleared["state_bytes"] + cleared["summary_bytes"]
    assert json.loads(cli("cache", "ls", "--json").stdout)["summaries"] == []
    assert not Path(ckpt["path"]).exists()


def test_a_damaged_checkpoint_is_listed_and_cleared_too() -> None:
    root = paths.summaries_dir()
    root.mkdir(parents=True)
    (root / ("ab" * 16 + ".json")).write_text("{ torn")
    (root / ("cd" * 16 + ".4242.tmp")).write_bytes(b"x" * 100)  # a write cut off by a crash
    (ckpt,) = json.loads(cli("cache", "ls", "--json").stdout)["summaries"]
    assert not ckpt["readable"] and ckpt["size"] == 6
    assert "unreadable" in cli("cache", "ls").stdout
    r = cli("cache", "clear", "--only", "summaries")
    assert "removed 1 summary checkpoint, freed 106 B" in r.stderr
    assert list(root.iterdir()) == []
