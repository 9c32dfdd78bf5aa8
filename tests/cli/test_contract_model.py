"""The command contract against the real llama.cpp and the real models: estimate, plan and a load agree
on the KV bytes (with and without saved settings), `ask` says when the reply hit -n, documents come
from stdin and empty ones are named, `/save` to a bad path keeps the chat, a model without a chat
template gets a plain prompt (no ChatML leaking), and Ctrl-C stops long work within seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.core.flags import RuntimeFlags
from tests.slowness import scaled

pytestmark = pytest.mark.model
runner = CliRunner()
BOOK = Path(__file__).resolve().parents[1] / "data" / "pride_and_prejudice.txt"
DOC = "The ferry to Oslo leaves at nine. The tram to the harbour leaves at ten. Ingrid sells the tickets.\n"


def _mib(n: int) -> float:
    return round(n / 2**20, 2)  # llama.cpp prints MiB with two decimals


def test_estimate_plan_and_a_real_load_agree_on_kv_bytes(smollm2_path: Path) -> None:
    from localctx.services.runtime import load_engine

    def three(args: list[str], flags: RuntimeFlags) -> tuple[int, int, int]:
        est = runner.invoke(app, ["estimate", "smollm2", *args, "--json"])
        pl = runner.invoke(app, ["plan", "smollm2", *args, "--json"])
        assert est.exit_code == 0 and pl.exit_code == 0, est.output + pl.output
        with load_engine("smollm2", flags=flags) as engine:
            real = engine.report.kv_bytes
        return json.loads(est.stdout)["plans"][0]["totals"]["kv"], json.loads(pl.stdout)["memory"]["totals"]["kv"], real

    est, pl, real = three(["--ctx", "4096", "-ctk", "q8_0", "-ctv", "f16", "-t", "1"],
                          RuntimeFlags(ctx=4096, cache_type_k="q8_0", cache_type_v="f16", threads=1))
    assert est == pl == 30 * 192 * 4096 * (34 / 32 + 2)  # 68.91 MiB: V stays f16
    assert _mib(real) == _mib(est)

    saved = runner.invoke(app, ["plan", "smollm2", "--ctx", "4096", "-ctk", "q8_0", "--save"])
    assert saved.exit_code == 0
    est2, pl2, real2 = three(["-t", "1"], RuntimeFlags(threads=1))  # the saved settings apply everywhere
    assert (est2, pl2, _mib(real2)) == (est, pl, _mib(real))


def test_ask_says_when_the_reply_hit_the_token_cap(tmp_path: Path) -> None:
    doc = tmp_path / "d.txt"
    doc.write_text(DOC)
    args = ["ask", "smollm2", "Tell me everything you know, in detail.", "--file", str(doc),
            "--ctx", "1024", "-n", "4", "-t", "1"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "reply cut at 4 tokens (-n); raise -n for more" in r.stderr
    d = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert d["stop_reason"] == "length" and d["tokens"]["reply"] == 4
    assert d["passage"] is None  # no word in common with the document: nothing to restate


def test_documents_from_stdin_and_an_empty_one_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    r = runner.invoke(app, ["ask", "smollm2", "When does the ferry leave?", "--file", "-", "--file", str(empty),
                            "--ctx", "1024", "-n", "8", "-t", "1", "--json"], input=DOC)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [x["name"] for x in d["documents"]] == ["stdin"] and d["tokens"]["documents"] > 20
    assert d["passage"] == "The ferry to Oslo leaves at nine."  # restated beside the question, and said so
    assert f"{empty}: the file is empty; it is left out of the context" in r.stderr


def test_save_to_a_bad_path_is_one_line_and_the_chat_goes_on(tmp_path: Path) -> None:
    good = tmp_path / "chat.md"
    r = runner.invoke(app, ["chat", "smollm2", "--ctx", "512", "-t", "1"],
                      input=f"/save /nonexistent/dir/x.md\n/save {tmp_path}\n/save {good}\n/quit\n")
    assert r.exit_code == 0, r.output
    assert "error: /save /nonexistent/dir/x.md: the folder /nonexistent/dir does not exist" in r.stderr
    assert "is a directory" in r.stderr and f"saved {good}" in r.stderr and good.exists()
    assert "Traceback" not in r.output


def test_a_model_without_a_chat_template_gets_a_plain_prompt(gemma_path: Path, tmp_path: Path) -> None:
    from localctx.services.runtime import load_engine

    with load_engine("gemma-3-270m", flags=RuntimeFlags(ctx=1024, threads=1)) as engine:
        assert not engine.has_chat_template
        prompt = engine.format_chat([{"role": "system", "content": "Documents."},
                                     {"role": "user", "content": "When?"}])
        assert prompt == "Documents.\n\nWhen?\nAnswer:" and "<|im_" not in prompt
        engine.set_chat_template("{{ messages[0]['content'] }}!")
        assert engine.format_chat([{"role": "user", "content": "x"}]) == "x!"
    doc = tmp_path / "d.txt"
    doc.write_text(DOC)
    for extra in ([], ["--chat-template", "gemma"]):
        r = runner.invoke(app, ["ask", "gemma-3-270m", "When does the ferry leave?", "--file", str(doc),
                                "--ctx", "1024", "-n", "24", "-t", "1", "--json", *extra])
        assert r.exit_code == 0, r.output
        answer = json.loads(r.stdout)["answer"]
        assert "<|im_" not in answer and "<start_of_turn>" not in answer and "Answer:" not in answer


def _mapped(pid: int, name: str) -> bool:
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("command", ["summarize", "eval ppl"])
def test_ctrl_c_stops_long_work_within_seconds(command: str, tmp_path: Path, smollm2_path: Path) -> None:
    book = tmp_path / "book.txt"
    book.write_text(BOOK.read_text(encoding="utf-8")[:60000], encoding="utf-8")
    args = (["summarize", str(book), "--model", "smollm2", "--ctx", "2048"] if command == "summarize" else
            ["eval", "ppl", "smollm2", "--file", str(book), "--ctx", "8192", "--method", "none"])
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen([sys.executable, "-m", "localctx", *args, "-t", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + scaled(240)
        while not _mapped(proc.pid, smollm2_path.name):  # the model is loaded: the long work starts
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        busy = _cpu_seconds(proc.pid) + 2.0
        while _cpu_seconds(proc.pid) < busy:  # two CPU seconds into the work: inside llama.cpp's batches
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=scaled(60))
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "stopping…" in err and "Traceback" not in err
    assert took < scaled(5), f"took {took:.1f} s to stop"
    if command == "summarize":
        assert "run the same command again to resume" in err
    else:
        assert "stopped: the results above are partial" in err
