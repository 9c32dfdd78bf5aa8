"""`localctx chat`'s in-chat commands as Ollama's REPL has them (/system, /file, /set, /show, /model,
/bye), through the real command with its stdin piped: each refusal is one line and the chat goes on; a
document added mid-chat is in the next turn's prompt (the same tokens `ask --file` evaluates); a
resumed session comes back with the system prompt and the documents the chat went on with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.core.chat_commands import COMMANDS
from localctx.store import Store
from tests.pinning import T1
from tests.services.test_chat import make_document
from tests.slowness import scaled

pytestmark = pytest.mark.model
runner = CliRunner()
LOCALCTX = [sys.executable, "-m", "localctx"]
SYSTEM = "Answer in one short sentence."
QUESTION = "Who opens the ledger?"


def _chat(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([*LOCALCTX, "chat", *args], input=script, capture_output=True, text=True,
                       timeout=scaled(600))
    assert r.returncode == 0, r.stderr
    return r


def _errors(stderr: str) -> list[str]:
    lines = (line.removeprefix("you> ") for line in stderr.splitlines())
    return [line for line in lines if line.startswith("error:")]


def test_commands_change_the_chat_refusals_are_one_line_and_a_resume_keeps_them(tmp_path: Path) -> None:
    doc, big = tmp_path / "ledger.txt", tmp_path / "big.txt"
    doc.write_text(make_document(3))
    big.write_text(make_document(30))  # ~1,800 tokens: does not fit n_ctx 1,024 (overflow refuse)
    script = "\n".join([
        "/help", "/set", "/set temp 0.5", "/set seed 7", "/set top-k 1.5", "/set bogus 1", "/set top-p 0",
        "/x", f"/file {big}", "/file -", f"/file {tmp_path / 'missing.txt'}", "/show",
        f"/system {SYSTEM}", f"/file {doc}", f"/file {doc}", QUESTION, "/model", "/bye", "never read",
    ]) + "\n"
    r = _chat(script, "smollm2", "--ctx", "1024", "-n", "8", *T1)
    err = r.stderr
    for command, _what in COMMANDS:  # /help lists every command, those that were there before too
        assert f"  {command} " in err, command
    assert "  seed                the runtime's --seed" in err  # /set alone lists the settings
    assert "temp 0.5 (was 0) from the next reply" in err and "seed 7 (was the runtime's --seed)" in err
    errors = _errors(err)
    assert errors[:3] == ["error: /set top-k takes a whole number (got '1.5')",
                          "error: /set: unknown setting 'bogus' — use one of: temp, top-k, top-p, min-p, "
                          "repeat-penalty, repeat-last-n, dry-multiplier, dry-base, dry-allowed-length, "
                          "dry-penalty-last-n, seed",
                          "error: --top-p must be above 0 and at most 1 (got 0.0) — 1.0 turns it off; 0.95 is a "
                          "usual value"]
    assert errors[3] == "error: unknown command /x; /help lists them"
    assert errors[4].startswith("error: the documents do not fit: documents ") and "nothing was truncated" in errors[4]
    assert errors[5].startswith("error: /file - cannot read standard input here")
    assert errors[6].startswith("error: ") and "missing.txt: no such file" in errors[6]
    assert errors[7] == "error: ledger.txt is already in this chat (as ledger.txt)"
    assert len(errors) == 8
    # /show before the document: the settings set, no document (the refused one left nothing behind)
    show = err[err.index("you> plan       ") + 5:]
    assert show.startswith("plan       smollm2 -t 1 · n_ctx 1,024 · no context extension")
    assert "--temp 0.5 " in show and "--seed 7" in show
    assert "documents  none (/file PATH adds one)" in show
    assert "system     the default (You are a helpful assistant.)" in show
    assert "system prompt set: 6 tokens; the conversation's start (system prompt, documents, template) is " in err
    added = next(line for line in err.splitlines() if "ledger.txt added: " in line)
    assert "· history 0 · reply ≤8 · free " in added  # the budget after the document
    assert "tokens evaluated in" in err  # read at once, with the usual report
    assert "model smollm2: SmolLM2-135M-Instruct.Q4_1.gguf, llama, 135M parameters" in err  # /model
    assert "never read" not in err  # /bye left

    (s,) = json.loads(runner.invoke(app, ["sessions", "--json"]).stdout)
    with Store() as store:
        (turn,) = store.turns(s["id"])
        saved = store.session(s["id"])
    assert turn.user == QUESTION and saved.system == SYSTEM and [d.name for d in saved.documents] == ["ledger.txt"]
    # the turn's prompt is exactly what `ask` renders with the same system prompt and document
    asked = runner.invoke(app, ["ask", "smollm2", "--file", str(doc), "--system", SYSTEM, QUESTION, "--ctx", "1024",
                                "-n", "8", "--json", *T1])
    assert asked.exit_code == 0, asked.output
    assert turn.prompt_tokens == json.loads(asked.stdout)["tokens"]["prompt"]

    more = tmp_path / "more.txt"
    more.write_text("The bell of the archive rings at noon.\n")
    resumed = _chat(f"/show\n/file {more}\n/bye\n", "--resume", s["id"])
    assert f"system     {SYSTEM}" in resumed.stderr and "documents  ledger.txt" in resumed.stderr
    assert "more.txt added: " in resumed.stderr and not _errors(resumed.stderr)
    with Store() as store:  # a document added to a saved session is saved with it
        assert [d.name for d in store.session(s["id"]).documents] == ["ledger.txt", "more.txt"]


def test_a_system_prompt_that_leaves_no_room_is_refused_and_the_chat_goes_on(tmp_path: Path) -> None:
    long_system = "Be careful. " * 150  # ~450 tokens in n_ctx 512 with a 128-token reply reserve
    r = _chat(f"/system {long_system}\n/system\n/tokens\n/bye\n", "smollm2", "--ctx", "512", "-n", "8", *T1)
    (line,) = _errors(r.stderr)
    assert line.startswith("error: the conversation does not fit: documents ") and "> n_ctx 512" in line
    assert "system prompt: the default (You are a helpful assistant.)" in r.stderr  # unchanged
