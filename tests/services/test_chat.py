"""ChatSession on the embedded model (SmolLM2, n_ctx <= 2048): prefix reuse measured with llama.cpp's
own counters, instant reopen from a saved KV state, corrupt states rebuilt, overflow policies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from localctx.core.conversation import QUESTION_ROOM, ChatOptions
from localctx.core.sampling import SamplingSettings
from localctx.core.settings import RuntimeSettings
from localctx.errors import ContextOverflowError, LocalctxError, SettingsError
from localctx.services.chat import ChatSession, read_document, read_documents
from localctx.services.chat_budget import Budget, DocText, suggest_ctx, trim_documents
from localctx.services.state_cache import StateCache, model_fingerprint
from localctx.store import Store

FIRST, MIDDLE, LAST = "Harrowgate opens the ledger.", "Quillon keeps the middle key.", "Tolvaine closes the ledger."
_NAMES = ["Amsel", "Brielle", "Corvin", "Dagny", "Emrys", "Fenna", "Galen", "Hesper", "Ilse", "Joren"]
_PLACES = ["Port Arden", "Kesslow", "the Vey marshes", "Old Lantry", "Mirrow", "the Salt Road"]


def make_document(paragraphs: int) -> str:
    """Deterministic prose with facts and three sentinels (start, middle, end); ~60 tokens a paragraph."""
    out = [FIRST]
    for i in range(paragraphs):
        name, place = _NAMES[i % len(_NAMES)], _PLACES[(i * 7) % len(_PLACES)]
        out.append(f"In the year {1700 + i * 3}, the archivist {name} catalogued {17 + i * 11} letters sent from "
                   f"{place}. Most concerned the price of salt, the repair of bridge number {i + 2}, and a quarrel "
                   f"about a missing bell that was settled on day {i % 28 + 1} of the month.")
        if i == paragraphs // 2:
            out.append(MIDDLE)
    out.append(LAST)
    return "\n\n".join(out)


def write_doc(tmp_path: Path, paragraphs: int, name: str = "ledger.txt") -> Path:
    p = tmp_path / name
    p.write_text(make_document(paragraphs))
    return p


def load(path: Path, n_ctx: int = 2048):
    from localctx.services.runtime import load_engine

    return load_engine(str(path), RuntimeSettings(n_ctx=n_ctx, n_threads=1))


@pytest.fixture(scope="module")
def engine(smollm2_path: Path) -> Iterator:
    e = load(smollm2_path)
    yield e
    e.close()


def drain(it: Iterator[str]) -> str:
    return "".join(it)


# ---- pure budget logic (real tokenizer not needed) -----------------------------------------------
def test_budget_numbers_and_line() -> None:
    b = Budget(n_ctx=2048, documents=1200, history=300, reply=256)
    assert (b.used, b.free) == (1500, 292)
    assert b.line() == "documents 1,200 · history 300 · reply ≤256 · free 292 of n_ctx 2,048"
    assert suggest_ctx(2049) == 3072 and suggest_ctx(1024) == 1024


def test_trim_documents_says_what_it_cut() -> None:
    words = lambda t: t.split()  # noqa: E731
    docs = [DocText("a", " ".join(f"a{i}" for i in range(100))), DocText("b", " ".join(f"b{i}" for i in range(50)))]
    out, notes = trim_documents(docs, 120, "drop-oldest", words, " ".join)
    assert "a99" not in out[0].text and out[0].text.startswith("[… the first 100 of 100 tokens")
    assert "b19" not in out[1].text and "b20" in out[1].text and "b49" in out[1].text
    assert len(notes) == 2 and "dropped its first 20 of 50" in notes[1]
    out, notes = trim_documents(docs, 30, "truncate-middle", words, " ".join)
    assert "a0" in out[0].text and "a99" in out[0].text and "a50" not in out[0].text
    assert "20 tokens omitted from the middle" in out[0].text and "10 tokens omitted" in out[1].text


# ---- the model ------------------------------------------------------------------------------------
@pytest.mark.model
def test_turn_two_evaluates_only_its_new_tokens(engine, tmp_path: Path) -> None:
    doc = write_doc(tmp_path, 12)
    chat = ChatSession.open("smollm2", [doc], engine=engine, store=Store(tmp_path / "s.db"),
                            state_cache=StateCache(tmp_path / "kv"), options=ChatOptions(reply_tokens=24))
    report = chat.prepare()
    assert report.evaluated == report.n_tokens > 500  # the document, evaluated once
    drain(chat.send("Who catalogued letters in the year 1700?"))
    t1 = chat.last_turn
    before = engine.counters().n_prompt_eval
    question = "And how many letters were sent from Kesslow?"
    drain(chat.send(question))
    t2 = chat.last_turn
    evaluated_by_llama = engine.counters().n_prompt_eval - before
    assert t2.evaluated_tokens == evaluated_by_llama  # llama.cpp's own counter agrees
    # nothing of turn 1's prompt (document included) was evaluated again ...
    assert evaluated_by_llama <= t2.prompt_tokens - t1.prompt_tokens
    # ... and at least the new question was
    assert evaluated_by_llama >= len(engine.tokenize(question))
    assert evaluated_by_llama < report.n_tokens / 5
    b = chat.budget()
    assert b.documents == report.n_tokens and b.history > 0 and b.n_ctx == engine.n_ctx
    assert b.used + b.reply <= b.n_ctx


@pytest.mark.model
def test_reopen_loads_the_state_and_answers_like_a_cold_run(smollm2_path: Path, tmp_path: Path) -> None:
    doc = write_doc(tmp_path, 10)
    cache = StateCache(tmp_path / "kv")
    q = "Which bridge needed repair?"
    opts = dict(state_cache=cache, persist=False,
                options=ChatOptions(reply_tokens=6, sampling=SamplingSettings(temperature=0.8, seed=42)))

    settings = RuntimeSettings(n_ctx=2048, n_threads=1)
    with ChatSession.open("smollm2", [doc], settings, **opts) as cold:  # loads (and closes) its own engine
        r1 = cold.prepare()
        assert (r1.cache, r1.evaluated) == ("miss", r1.n_tokens)
        cold_first = next(cold.send(q))
    assert len(cache.entries()) == 1

    with ChatSession.open("smollm2", [doc], settings, **opts) as warm:
        warm_engine = warm.engine
        # llama_perf_context reports max(1, n): a fresh context reads 1, so compare with the value before
        before = warm_engine.counters().n_prompt_eval
        r2 = warm.prepare()
        assert (r2.cache, r2.evaluated) == ("hit", 0)
        assert warm_engine.counters().n_prompt_eval == before <= 1  # no document token evaluated by llama.cpp
        assert len(warm_engine.cached_tokens) == r2.n_tokens
        it = warm.send(q)
        assert next(it) == cold_first
        it.close()
        # only the turn's own tokens (reminder, restated passage, question) were evaluated after the load
        t = warm.last_turn
        assert t is not None and t.prompt_tokens - r2.n_tokens < QUESTION_ROOM  # the room kept for them
        assert warm_engine.counters().n_prompt_eval - before <= t.prompt_tokens - r2.n_tokens + 1


@pytest.mark.model
def test_corrupt_or_stale_state_is_rebuilt_never_used(engine, tmp_path: Path) -> None:
    doc = write_doc(tmp_path, 3)  # read four times: a short one, since the damage is what is checked
    cache = StateCache(tmp_path / "kv")

    def open_and_prepare():
        engine.ingest([])  # empty the KV cache, as a fresh process would have it
        chat = ChatSession.open("smollm2", [doc], engine=engine, state_cache=cache, persist=False)
        return chat, chat.prepare()

    _, r = open_and_prepare()
    assert r.cache == "miss"
    (entry,) = cache.entries()
    state = cache.state_path(entry.key)
    data = bytearray(state.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    state.write_bytes(bytes(data))  # same size, different bytes

    chat, r = open_and_prepare()
    assert (r.cache, r.reason) == ("rebuilt", "checksum mismatch")
    assert r.evaluated == r.n_tokens
    assert any("rebuilding" in n for n in chat.drain_notices())
    _, r = open_and_prepare()
    assert r.cache == "hit"  # the rebuilt state is good

    cache.header_path(entry.key).write_text("{not json")
    _, r = open_and_prepare()
    assert r.cache == "rebuilt" and r.reason.startswith("unreadable header")

    state.write_bytes(state.read_bytes()[:1000])  # truncated
    _, r = open_and_prepare()
    assert r.cache == "rebuilt" and r.reason.startswith("size")


@pytest.mark.model
def test_state_cache_evicts_least_recently_used(engine, tmp_path: Path) -> None:
    docs = [write_doc(tmp_path, 3 + i, f"d{i}.txt") for i in range(3)]
    cache = StateCache(tmp_path / "kv")
    keys = []
    for d in docs:
        ChatSession.open("smollm2", [d], engine=engine, state_cache=cache, persist=False).prepare()
        keys.append(cache.entries()[0].key)
    sizes = {e.key: e.size for e in cache.entries()}
    # touch the first (a hit makes it recently used), then cap the cache at two states
    assert ChatSession.open("smollm2", [docs[0]], engine=engine, state_cache=cache,
                            persist=False).prepare().cache == "hit"
    cache.max_bytes = sizes[keys[0]] + sizes[keys[2]] + 1
    assert cache.evict() == [keys[1]]
    assert {e.key for e in cache.entries()} == {keys[0], keys[2]}
    assert cache.clear() == (2, sizes[keys[0]] + sizes[keys[2]])
    assert cache.entries() == []


def test_model_fingerprint_is_cached_by_path_size_mtime(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + bytes(range(256)) * 20000)
    a = model_fingerprint(f)
    assert model_fingerprint(f) == a
    data = bytearray(f.read_bytes())
    data[-10] ^= 1
    f.write_bytes(bytes(data))
    assert model_fingerprint(f) != a
    known = json.loads((tmp_path / "localctx-home" / "cache" / "model_fingerprints.json").read_text())
    assert known[str(f.resolve())]["size"] == f.stat().st_size


# ---- overflow -------------------------------------------------------------------------------------
@pytest.mark.model
def test_document_larger_than_the_context_is_refused_with_the_numbers(engine, tmp_path: Path) -> None:
    doc = write_doc(tmp_path, 45)  # ~2,700 tokens > 2048
    before = engine.counters().n_prompt_eval
    with pytest.raises(ContextOverflowError) as err:
        ChatSession.open("smollm2", [doc], engine=engine, persist=False)
    e = err.value
    assert e.n_ctx == engine.n_ctx and e.n_tokens > engine.n_ctx
    msg = e.one_line()
    assert "the documents do not fit: documents " in msg and f"> n_ctx {engine.n_ctx:,}" in msg
    assert "nothing was truncated" in msg
    ctx = suggest_ctx(e.n_tokens)  # the hint repeats the flags the engine was loaded with (-t 1)
    assert f"--ctx {ctx}" in msg and f"localctx plan smollm2 -t 1 --ctx {ctx}" in msg
    assert "localctx summarize" in msg and "--overflow drop-oldest" in msg and "truncate-middle" in msg
    assert engine.counters().n_prompt_eval == before  # refused before evaluating anything


@pytest.fixture(scope="module")
def small_engine(smollm2_path: Path) -> Iterator:
    """n_ctx 1024, for the tests that fill the whole context: half the tokens to read on one thread."""
    e = load(smollm2_path, n_ctx=1024)
    yield e
    e.close()


@pytest.mark.model
@pytest.mark.parametrize("policy", ["drop-oldest", "truncate-middle"])
def test_document_larger_than_the_context_under_each_policy(small_engine, tmp_path: Path, policy: str) -> None:
    doc = write_doc(tmp_path, 24)  # ~1,450 tokens > 1024
    chat = ChatSession.open("smollm2", [doc], engine=small_engine, persist=False,
                            options=ChatOptions(overflow=policy, reply_tokens=16))
    notes = chat.drain_notices()
    assert len(notes) == 1 and policy in notes[0] and "ledger.txt" in notes[0]
    placed = chat._placed_docs[0].text
    assert f"(--overflow {policy}) …]" in placed and "omitted" in placed  # the model is told too
    assert LAST in placed
    if policy == "drop-oldest":  # the start went, the rest is intact
        assert FIRST not in placed and MIDDLE in placed
    else:  # the start and the end stay, the middle went
        assert FIRST in placed and MIDDLE not in placed
    b = chat.budget()
    assert b.documents + b.reply + chat.question_room <= b.n_ctx
    reply = drain(chat.send("Who closes the ledger?"))
    assert chat.last_turn.reply_tokens > 0 and isinstance(reply, str)


@pytest.mark.model
@pytest.mark.parametrize("policy", ["refuse", "drop-oldest", "truncate-middle"])
def test_history_overflow_under_each_policy(smollm2_path: Path, tmp_path: Path, policy: str) -> None:
    doc = write_doc(tmp_path, 4)
    long_q = "Please repeat this list back: " + ", ".join(f"item {i}" for i in range(60))
    with ChatSession.open("smollm2", [doc], RuntimeSettings(n_ctx=1024, n_threads=1), persist=False,
                          options=ChatOptions(overflow=policy, reply_tokens=8, layout="reminder")) as chat:
        doc_tokens = chat.prepare().n_tokens  # (sizes below counted without a restated passage)
        for _ in range(2):
            drain(chat.send(long_q))
        assert chat.budget().history > 500  # documents ~320 + history ~620: a third long turn cannot fit 1024
        if policy == "refuse":
            with pytest.raises(ContextOverflowError, match=r"the conversation does not fit: documents \d"):
                drain(chat.send(long_q))
            assert len(chat.turns) == 2  # nothing lost
            return
        drain(chat.send(long_q))
        notes = chat.drain_notices()
        assert notes and all(f"--overflow {policy}" in n for n in notes)
        dropped = {int(n.split()[1]) - 1 for n in notes}
        assert dropped == ({0} if policy == "drop-oldest" else {1})
        # no KV shift: the conversation was re-evaluated from the first changed turn, the documents kept
        assert chat.last_turn.evaluated_tokens <= chat.last_turn.prompt_tokens - doc_tokens + 1
        assert chat.engine.cached_tokens[:doc_tokens] == chat._prefix


# ---- sessions -------------------------------------------------------------------------------------
@pytest.mark.model
def test_turns_are_stored_stopped_replies_kept_and_sessions_resume(engine, tmp_path: Path) -> None:
    doc = write_doc(tmp_path, 3)
    store = Store(tmp_path / "s.db")
    chat = ChatSession.open("smollm2", [doc], engine=engine, store=store,
                            options=ChatOptions(reply_tokens=40, system="Be brief."))
    a1 = drain(chat.send("Name one archivist."))
    pieces = []
    for piece in chat.send("Tell me everything about the salt prices.", should_stop=lambda: len(pieces) >= 3):
        pieces.append(piece)
    assert chat.last_turn.stopped and chat.last_turn.stop_reason == "cancelled"
    sid = chat.session.id
    turns = store.turns(sid)
    assert [(t.user, t.assistant, t.stopped) for t in turns] == [
        ("Name one archivist.", a1, False), ("Tell me everything about the salt prices.", "".join(pieces), True)]
    assert turns[0].prompt_tokens > 0 and turns[0].ttft_ms is not None

    resumed = ChatSession.open(None, resume_id=sid[:6], engine=engine, store=store)
    assert resumed.system == "Be brief." and [d.name for d in resumed.documents] == ["ledger.txt"]
    assert [t.user for t in resumed.turns] == [t.user for t in turns]
    drain(resumed.send("Thanks."))
    assert [t.idx for t in store.turns(sid)] == [0, 1, 2]
    old = resumed.clear()
    assert old == sid and resumed.turns == [] and resumed.budget().history == 0
    drain(resumed.send("Hello again."))
    assert resumed.session.id != sid and len(store.turns(resumed.session.id)) == 1
    md = resumed.save(tmp_path / "t.md").read_text()
    assert "## You\n\nHello again." in md and "ledger.txt" in md


def test_documents_are_read_like_summarize_reads_them(tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_text("<html><body><h1>Ferries</h1><p>The ferry to <b>Oslo</b> leaves at nine.</p></body></html>")
    doc = read_document(html)
    assert doc.name == "page.html" and "# Ferries" in doc.text and "The ferry to Oslo leaves at nine." in doc.text
    assert "<p>" not in doc.text
    (tmp_path / "empty.md").write_text("\n\n")
    docs, notes = read_documents([html, tmp_path / "empty.md"])
    assert [d.name for d in docs] == ["page.html"] and notes == [f"{tmp_path / 'empty.md'}: the file is empty; "
                                                                 "it is left out of the context"]


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LocalctxError, match="no such file"):
        read_document(tmp_path / "nope.txt")
    (tmp_path / "bin").write_bytes(b"\x00\x01\x02\xff\xfe")
    with pytest.raises(LocalctxError, match="looks like a binary file"):
        read_document(tmp_path / "bin")
    with pytest.raises(LocalctxError, match="is a directory"):
        read_document(tmp_path)
    with pytest.raises(SettingsError, match="unknown overflow policy"):
        ChatSession.open("smollm2", options=ChatOptions(overflow="shift"), persist=False)


def test_state_key_covers_what_shapes_the_kv_cache_only() -> None:
    from localctx.services.state_cache import state_key

    s = RuntimeSettings(n_ctx=2048)
    k = state_key("m" * 64, s, 2048, [1, 2, 3])
    assert state_key("m" * 64, s.with_(n_threads=7, seed=3, use_mmap=False), 2048, [1, 2, 3]) == k
    for other in (state_key("n" * 64, s, 2048, [1, 2, 3]), state_key("m" * 64, s, 4096, [1, 2, 3]),
                  state_key("m" * 64, s, 2048, [1, 2, 4]), state_key("m" * 64, s.with_(type_k="q8_0"), 2048, [1, 2, 3]),
                  state_key("m" * 64, s.with_(rope_scaling="yarn", rope_freq_scale=0.5), 2048, [1, 2, 3])):
        assert other != k


def test_a_stop_while_the_prompt_is_evaluated_adds_no_turn(engine, tmp_path: Path) -> None:
    doc = tmp_path / "ledger.txt"
    doc.write_text(make_document(3))
    store = Store(tmp_path / "s.db")
    chat = ChatSession.open("smollm2", [doc], engine=engine, store=store, options=ChatOptions(reply_tokens=8),
                            use_state_cache=False)
    chat.prepare()
    assert "".join(chat.send("Who opens the ledger?", should_stop=lambda: True)) == ""
    t = chat.last_turn
    assert t is not None and t.stopped and t.stop_reason == "cancelled" and t.reply_tokens == 0
    assert chat.turns == [] and chat.session is None  # nothing committed: no empty reply in the store
    assert "".join(chat.send("Who opens the ledger?"))  # the engine goes on from the document prefix
    assert len(chat.turns) == 1 and len(store.turns(chat.session.id)) == 1


@pytest.mark.model
def test_a_turn_evaluates_exactly_the_shared_prompt_step(engine, tmp_path: Path) -> None:
    """The message-to-prompt step is one function: what ChatSession evaluates for a turn is what any other
    door (the HTTP server) gets from the same messages through services.prompt."""
    from localctx.services import prompt

    doc = write_doc(tmp_path, 3)
    chat = ChatSession.open("smollm2", [doc], engine=engine, persist=False, use_state_cache=False,
                            options=ChatOptions(reply_tokens=4, system="Be brief."))
    drain(chat.send("Who opens the ledger?"))
    messages = prompt.conversation_messages(
        prompt.system_text("Be brief.", [DocText("ledger.txt", read_document(doc).text)]), [], "Who opens the ledger?")
    assert chat.last_turn is not None
    assert chat.last_turn.prompt_tokens == len(prompt.prompt_tokens(engine, messages))
    assert engine.cached_tokens[:chat.last_turn.prompt_tokens] == prompt.prompt_tokens(engine, messages)
