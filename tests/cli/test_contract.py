"""The CLI contract for bad input: usage errors, sampling values, output paths and documents are each
refused in one stderr line with exit 2, before any model loads (llama.cpp's constructor records any
call), never with a traceback or Typer's multi-line box."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx import __version__
from localctx.cli.app import app
from localctx.errors import RuntimeLoadError

runner = CliRunner()


@pytest.fixture()
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from localctx.engine import llamacpp

    got: list[str] = []

    def fake_init(self, path, settings=None, **kw) -> None:
        got.append(str(path))
        raise RuntimeLoadError("stand-in: not loaded")

    monkeypatch.setattr(llamacpp.LlamaEngine, "__init__", fake_init)
    monkeypatch.setattr(llamacpp.LlamaEngine, "__del__", lambda self: None)
    return got


def _one_error_line(r, *words: str) -> str:
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output and "╭" not in r.output
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_version() -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith(f"localctx {__version__} (llama-cpp-python ")


@pytest.mark.parametrize("args, words", [
    (["nosuch"], ["No such command 'nosuch'", "see `localctx --help`"]),
    (["plan", "smollm2", "--bogus"], ["No such option: --bogus", "see `localctx plan --help`"]),
    (["ask", "smollm2"], ["Missing argument", "see `localctx ask --help`"]),
    (["summarize"], ["Missing argument", "see `localctx summarize --help`"]),
    (["eval"], ["localctx eval needs a command: passkey, ppl"]),
    (["cache"], ["localctx cache needs a command: clear, ls"]),
    (["eval", "foo"], ["No such command 'foo'", "see `localctx eval --help`"]),
    (["plan", "smollm2", "-t", "abc"], ["'--threads'", "see `localctx plan --help`"]),
    (["eval", "passkey", "smollm2", "--trials", "0"], ["--trials", "see `localctx eval passkey --help`"]),
    (["estimate", "smollm2", "--kv-type", "q8_0"], ["use -ctk q8_0 -ctv q8_0"]),
])
def test_usage_errors_are_one_line_exit_2(args: list[str], words: list[str]) -> None:
    _one_error_line(runner.invoke(app, args), *words)


@pytest.mark.parametrize("command", ["ask", "chat"])
@pytest.mark.parametrize("args, words", [
    (["-n", "0"], "-n/--max-tokens must be at least 1"),
    (["-n", "-5"], "-n/--max-tokens must be at least 1"),
    (["--temp", "-1"], "--temp must be 0 or more"),
    (["--repeat-penalty", "0"], "--repeat-penalty must be greater than 0"),
    (["--chat-template", "nosuch"], "unknown --chat-template 'nosuch'"),
])
def test_sampling_values_are_checked_before_loading(command: str, args: list[str], words: str,
                                                    loads: list[str]) -> None:
    base = ["ask", "smollm2", "Why?"] if command == "ask" else ["chat", "smollm2"]
    _one_error_line(runner.invoke(app, base + args, input=""), words)
    assert loads == []


def test_an_empty_question_is_refused(loads: list[str]) -> None:
    _one_error_line(runner.invoke(app, ["ask", "smollm2", "   "]), "the question is empty")
    assert loads == []


def test_summarize_checks_its_output_path_before_any_work(loads: list[str], tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("The ferry to Oslo leaves at nine.\n")
    line = _one_error_line(runner.invoke(app, ["summarize", str(doc), "--out", "/nonexistent/dir/x.md"]),
                           "the folder /nonexistent/dir does not exist", "mkdir -p")
    assert "--out" in line
    _one_error_line(runner.invoke(app, ["summarize", str(doc), "--out", str(tmp_path)]), "is a directory")
    assert loads == []


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_documents_are_checked_before_loading(command: str, loads: list[str], tmp_path: Path) -> None:
    base = ["ask", "smollm2", "Why?"] if command == "ask" else ["chat", "smollm2"]
    _one_error_line(runner.invoke(app, base + ["--file", str(tmp_path)], input=""), "is a directory")
    _one_error_line(runner.invoke(app, base + ["--file", str(tmp_path / "nope.txt")], input=""), "no such file")
    if command == "chat":  # stdin carries the messages
        _one_error_line(runner.invoke(app, base + ["--file", "-"], input="text"), "--file - cannot be a document")
    (tmp_path / "w.docx").write_bytes(b"PK\x03\x04junk")
    _one_error_line(runner.invoke(app, base + ["--file", str(tmp_path / "w.docx")], input=""),
                    "unsupported format '.docx'")
    assert loads == []


def test_plan_save_and_forget(tmp_path: Path) -> None:
    r = runner.invoke(app, ["plan", "smollm2", "--ctx", "4k", "-ctk", "q8_0", "--save", "--json"])
    assert r.exit_code == 0 and "--ctx 4096 -ctk q8_0 (clear with --forget)" in r.stderr
    r = runner.invoke(app, ["estimate", "smollm2", "--json"])
    assert "using saved settings for this model: --ctx 4096 -ctk q8_0" in r.stderr
    r = runner.invoke(app, ["plan", "smollm2", "--forget", "--json"])
    assert r.exit_code == 0 and "cleared the saved settings" in r.stderr
    r = runner.invoke(app, ["estimate", "smollm2", "--json"])
    assert "using saved settings" not in r.stderr
    r = runner.invoke(app, ["plan", "smollm2", "--forget"])
    assert r.exit_code == 0 and "no settings were saved" in r.stderr


def test_estimate_compares_k_and_v_apart() -> None:
    import json

    r = runner.invoke(app, ["estimate", "smollm2", "--ctx", "4k,8k", "-ctk", "f16,q8_0", "-ctv", "f16,q8_0",
                            "--json"])
    assert r.exit_code == 0, r.output
    plans = json.loads(r.stdout)["plans"]
    assert [(p["n_ctx_requested"], p["type_k"], p["type_v"]) for p in plans] == [
        (4096, "f16", "f16"), (4096, "q8_0", "q8_0"), (8192, "f16", "f16"), (8192, "q8_0", "q8_0")]
    r = runner.invoke(app, ["estimate", "smollm2", "--ctx", "4096", "-ctk", "q8_0", "--json"])
    (p,) = json.loads(r.stdout)["plans"]
    assert (p["type_k"], p["type_v"]) == ("q8_0", "f16")  # K's type is not applied to V
    assert p["totals"]["kv"] == 30 * 192 * 4096 * (34 / 32 + 2)  # 68.91 MiB, as llama.cpp allocates it


def test_summarize_reads_stdin_and_names_an_empty_one(loads: list[str]) -> None:
    r = runner.invoke(app, ["summarize", "-", "--model", "smollm2"], input="The ferry leaves at nine.\n")
    assert r.exit_code == 1 and "stand-in: not loaded" in r.stderr  # read, then on to the load
    _one_error_line(runner.invoke(app, ["summarize", "-", "--model", "smollm2"], input="  \n"),
                    "stdin: the file is empty")


HELP_COMMANDS = [["estimate"], ["plan"], ["ask"], ["chat"], ["summarize"], ["eval", "passkey"], ["eval", "ppl"],
                 ["tui"], ["serve"]]
LOADING = {"ask", "chat", "summarize", "eval passkey", "eval ppl", "serve"}


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_help_of_every_command_speaks_the_one_vocabulary(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    out = runner.invoke(app, [*command, "--help"]).stdout
    for flag in ("--ctx", "--ctx-size", "-ctk", "-ctv", "--flash-attn", "-ngl", "-np", "--swa-full"):
        assert flag in out, flag
    assert ("--force" in out) == (" ".join(command) in LOADING)
    for gone in ("--kv-type", "-nofa", "--no-flash-attn"):
        assert gone not in out


def test_readme_names_every_runtime_flag() -> None:
    from localctx.cli._runtime_opts import _OPTIONS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Flags: one vocabulary"):]
    for _name, _typ, opt in _OPTIONS:
        decls = (opt.default, *opt.param_decls)  # Typer keeps the first declaration in .default
        long = next(d for d in decls if d.startswith("--"))
        assert long in section or (long.startswith("--yarn-") and "--yarn-*" in section), long


@pytest.mark.parametrize("command", ["ask", "chat", "summarize"])
def test_a_busy_machine_is_named_before_a_load_with_threads_that_compete(
        command: str, loads: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("The ferry to Oslo leaves at nine.\n")
    base = {"ask": ["ask", "smollm2", "When?"], "chat": ["chat", "smollm2"],
            "summarize": ["summarize", str(doc), "--model", "smollm2"]}[command] + ["--ctx", "512"]
    monkeypatch.setenv("LOCALCTX_LOAD", "1.2,2")  # one core's worth of other work
    r = runner.invoke(app, base, input="")
    assert r.exit_code == 1 and "stand-in: not loaded" in r.stderr  # said before the load
    busy = " ".join(r.stderr.split()).split("warning: ", 1)[1]
    assert busy.startswith("this machine is busy (load average 1.20 on 2 cores, ~1 spare): the default of 2 threads")
    assert "-t 1 is faster now" in busy
    r = runner.invoke(app, [*base, "-t", "1"], input="")  # one thread fits the spare core: nothing to say
    assert "stand-in: not loaded" in r.stderr and "busy" not in r.stderr
    assert len(loads) == 2
