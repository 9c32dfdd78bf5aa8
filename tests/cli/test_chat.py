"""`localctx chat`, `ask`, `sessions` and `cache` through the real CLI and the real model, including a
chat process killed with SIGKILL in the middle of a reply."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.services.chat_budget import suggest_ctx
from localctx.store import Store, default_db_path
from tests.cli._interactive import Interactive
from tests.pinning import T1
from tests.services.test_chat import make_document
from tests.slowness import scaled

runner = CliRunner()
LOCALCTX = [sys.executable, "-m", "localctx"]


def _doc(tmp_path: Path, paragraphs: int = 3) -> Path:
    p = tmp_path / "ledger.txt"
    p.write_text(make_document(paragraphs))
    return p


@pytest.mark.model
def test_ask_json_then_reopen_from_the_saved_state(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    args = ["ask", "smollm2", "--file", str(doc), "Who opens the ledger?", "--ctx", "1024", "-n", "16", "--json", *T1]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    cold = json.loads(r.stdout)
    assert isinstance(cold["answer"], str) and cold["answer"]
    assert cold["n_ctx"] == 1024 and cold["documents"][0]["name"] == "ledger.txt"
    t = cold["tokens"]
    assert t["documents"] > 100 and t["prompt"] > t["documents"] and 0 < t["reply"] <= 16
    assert t["evaluated"] == t["prompt"]  # a cold run evaluates everything once
    for k in ("load_s", "ingest_s", "ttft_s", "gen_tok_s", "answer_s"):
        assert cold["timings"][k] is not None and cold["timings"][k] > 0, k
    assert cold["state_cache"] == "miss"

    warm = json.loads(runner.invoke(app, args).stdout)
    assert warm["state_cache"] == "hit" and warm["timings"]["ingest_tok_s"] is None
    assert warm["tokens"]["evaluated"] == warm["tokens"]["prompt"] - warm["tokens"]["documents"]  # the question only
    assert warm["answer"] == cold["answer"]  # greedy, same tokens in the KV cache

    ls = json.loads(runner.invoke(app, ["cache", "ls", "--json"]).stdout)
    (entry,) = ls["entries"]
    assert entry["n_tokens"] == cold["tokens"]["documents"] and entry["documents"] == ["ledger.txt"]
    assert ls["total_bytes"] == entry["size"] > 0
    cleared = json.loads(runner.invoke(app, ["cache", "clear", "--json"]).stdout)
    assert (cleared["removed"], cleared["freed_bytes"]) == (1, entry["size"])
    assert json.loads(runner.invoke(app, ["cache", "ls", "--json"]).stdout)["entries"] == []


@pytest.mark.model
def test_document_that_does_not_fit_is_refused_with_numbers(tmp_path: Path) -> None:
    doc = _doc(tmp_path, 30)
    r = subprocess.run([*LOCALCTX, "ask", "smollm2", "--file", str(doc), "Summarize.", "--ctx", "1024", *T1],
                       capture_output=True, text=True, timeout=scaled(300))
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the documents do not fit: documents ")
    assert "> n_ctx 1,024 (nothing was truncated)" in lines[0]
    needed = int(re.search(r"= ([\d,]+) tokens", lines[0]).group(1).replace(",", ""))
    ctx = suggest_ctx(needed)
    assert ctx > 1024 and f"--ctx {ctx} (`localctx plan smollm2 -t 1 --ctx {ctx}`" in lines[0]  # the user's flags kept
    assert "plan: no extension needed; memory fits: RAM needs" in lines[0]  # the verdict for that --ctx
    assert "localctx summarize" in lines[0] and "--overflow drop-oldest" in lines[0]


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["ask", "smollm2", "--file", str(tmp_path / "missing.txt"), "q"])
    assert r.exit_code == 2 and "missing.txt: no such file" in r.output
    r = runner.invoke(app, ["chat", "smollm2", "--overflow", "shift"])
    assert r.exit_code == 2 and "unknown overflow policy 'shift'" in r.output


def test_sessions_and_cache_when_empty() -> None:
    r = runner.invoke(app, ["sessions", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    r = runner.invoke(app, ["cache", "ls", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["entries"] == []


@pytest.mark.model
def test_chat_multiline_input_commands_and_sessions(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    script = 'Who opens the ledger?\n/tokens\nline one \\\nline two\n"""\nblock a\n\nblock b\n"""\n/save {md}\n/quit\n'
    md = tmp_path / "t.md"
    r = subprocess.run([*LOCALCTX, "chat", "smollm2", "--file", str(doc), "--ctx", "1024", "-n", "8", "--temp", "0",
                        *T1], input=script.format(md=md), capture_output=True, text=True, timeout=scaled(600))
    assert r.returncode == 0, r.stderr
    assert "[documents " in r.stderr and "of n_ctx 1,024]" in r.stderr  # the budget before every prompt
    assert "documents came from: miss" in r.stderr and "evaluated (the rest reused from the KV cache)" in r.stderr
    sessions = json.loads(runner.invoke(app, ["sessions", "--json"]).stdout)
    (s,) = sessions
    assert s["turns"] == 3 and s["title"] == "Who opens the ledger?" and s["n_ctx"] == 1024
    assert f"continue with: localctx chat --resume {s['id']}" in r.stderr
    with Store() as store:
        users = [t.user for t in store.turns(s["id"])]
        assert users == ["Who opens the ledger?", "line one \nline two", "block a\n\nblock b"]
        assert all(t.evaluated_tokens < 60 for t in store.turns(s["id"])[1:])  # prefix reuse, turn after turn
    assert "## You\n\nblock a\n\nblock b" in md.read_text()


@pytest.mark.model
def test_session_survives_sigkill_mid_reply(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    proc = subprocess.Popen([*LOCALCTX, "chat", "smollm2", "--file", str(doc), "--ctx", "1024", "-n", "64", *T1],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = bytearray()
    reader = threading.Thread(target=lambda: [out.extend(b) for b in iter(lambda: proc.stdout.read1(64), b"")],
                              daemon=True)
    reader.start()

    def turns() -> list:
        if not default_db_path().exists():
            return []
        db = sqlite3.connect(f"file:{default_db_path()}?mode=ro", uri=True)
        try:
            return db.execute("SELECT idx, user, assistant FROM turns ORDER BY idx").fetchall()
        except sqlite3.OperationalError:  # schema not there yet
            return []
        finally:
            db.close()

    def wait(pred, what: str, timeout: float = 300) -> None:
        end = time.time() + scaled(timeout)
        while not pred():
            assert proc.poll() is None, f"chat exited early ({proc.returncode})"
            assert time.time() < end, f"timed out waiting for {what}"
            time.sleep(0.05)

    try:
        proc.stdin.write(b"Who opens the ledger?\n")
        proc.stdin.flush()
        wait(lambda: len(turns()) == 1, "turn 1 to be committed")
        seen = len(out)
        proc.stdin.write(b"Write a very long story about every archivist, in many sentences.\n")
        proc.stdin.flush()
        wait(lambda: len(out) > seen + 4, "the second reply to start")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    (t1,) = turns()  # the completed turn, intact; the reply in flight is not half-written
    assert t1[1] == "Who opens the ledger?" and t1[2] and t1[2] in out.decode("utf-8", "replace")
    db = sqlite3.connect(default_db_path())
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    sessions = json.loads(runner.invoke(app, ["sessions", "--json"]).stdout)
    assert [s["turns"] for s in sessions] == [1]


@pytest.mark.model
def test_ctrl_c_stops_a_reply_keeps_the_session_and_exits_cleanly_at_the_prompt(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    chat = Interactive([*LOCALCTX, "chat", "smollm2", "--file", str(doc), "--ctx", "1024", "-n", "200", *T1])
    proc, out, err, wait = chat.proc, chat.out, chat.err, chat.wait

    try:
        wait(lambda: b"you> " in err, "the first prompt")
        proc.stdin.write(b"Write a very long story about every archivist, in many sentences.\n")
        proc.stdin.flush()
        wait(lambda: len(out) > 8, "the reply to start")
        proc.send_signal(signal.SIGINT)  # Ctrl-C during the reply: stops it, the chat goes on
        wait(lambda: err.count(b"you> ") == 2, "the next prompt")
        assert b"stopped (kept)" in err
        proc.send_signal(signal.SIGINT)  # Ctrl-C at the prompt: a clean exit
        assert proc.wait(timeout=scaled(60)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    (s,) = json.loads(runner.invoke(app, ["sessions", "--json"]).stdout)
    with Store() as store:
        (turn,) = store.turns(s["id"])
    assert turn.stopped and turn.assistant and turn.assistant in out.decode("utf-8", "replace")
    assert turn.reply_tokens < 200
    assert f"localctx chat --resume {s['id']}".encode() in err

    # resume it: the document comes back from the saved KV state, the history is there
    r = subprocess.run([*LOCALCTX, "chat", "--resume", s["id"]], input="/tokens\n/quit\n", capture_output=True,
                       text=True, timeout=scaled(300))
    assert r.returncode == 0, r.stderr
    assert "loaded from the saved KV state" in r.stderr and "documents came from: hit" in r.stderr
    history = int(re.search(r"history\s+([\d,]+)", r.stderr).group(1).replace(",", ""))
    assert history > turn.reply_tokens
