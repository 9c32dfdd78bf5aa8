"""One flag vocabulary, held everywhere: every command that takes the runtime flags x every spelling
of --ctx reaches the same settings, and x every bad value gives one stderr line and exit 2 (no
traceback, nothing loaded).  Nothing here loads a model: LlamaEngine's constructor only records what
it was asked to load, and the TUI's entry point only records its flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.errors import RuntimeLoadError

runner = CliRunner()

COMMANDS = ["estimate", "plan", "ask", "chat", "summarize", "eval passkey", "eval ppl", "tui"]
SPELLINGS = [["--ctx", "32k"], ["-c", "32768"], ["--ctx-size", "32K"]]
BAD = [
    (["--ctx", "0"], "--ctx must be greater than 0"),
    (["--ctx", "abc"], "cannot read --ctx 'abc'"),
    (["--ctx", "99999999999"], "beyond what llama.cpp can address"),
    (["-ngl", "-5"], "-ngl must be -1 (all layers) or more"),
    (["-ctk", "q3_0"], "unknown --cache-type-k 'q3_0'"),
    (["-fa", "sometimes"], "unknown --flash-attn 'sometimes'"),
    (["-t", "0"], "--threads must be greater than 0"),
    (["-b", "0"], "--batch-size must be greater than 0"),
]


@pytest.fixture()
def seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """n_ctx of every load asked of llama.cpp (refused), and of the TUI's flags."""
    from localctx.engine import llamacpp

    got: list[int] = []

    def fake_init(self, path, settings=None, **kw) -> None:
        got.append(settings.n_ctx)
        raise RuntimeLoadError("stand-in: not loaded")

    def fake_tui(model=None, *, flags=None, **kw) -> None:
        got.append(flags.ctx)

    monkeypatch.setattr(llamacpp.LlamaEngine, "__init__", fake_init)
    monkeypatch.setattr(llamacpp.LlamaEngine, "__del__", lambda self: None)
    import localctx.tui.app

    monkeypatch.setattr(localctx.tui.app, "run_tui", fake_tui)
    monkeypatch.setenv("LOCALCTX_MEMORY", "64G,60G")
    return got


def _args(command: str, tmp_path: Path) -> list[str]:
    doc = tmp_path / "doc.txt"
    doc.write_text("The ferry to Oslo leaves at nine.\n")
    return {
        "estimate": ["estimate", "smollm2", "--json"],
        "plan": ["plan", "smollm2", "--json"],
        "ask": ["ask", "smollm2", "When?", "--file", str(doc)],
        "chat": ["chat", "smollm2"],
        "summarize": ["summarize", str(doc), "--model", "smollm2"],
        "eval passkey": ["eval", "passkey", "smollm2", "--method", "none", "--depths", "0.5"],
        "eval ppl": ["eval", "ppl", "smollm2", "--file", str(doc), "--method", "none"],
        "tui": ["tui", "smollm2"],
    }[command]


def _n_ctx(command: str, r, seen: list[int]) -> int:
    if command == "estimate":
        return json.loads(r.stdout)["plans"][0]["n_ctx_requested"]
    if command == "plan":
        return json.loads(r.stdout)["settings"]["n_ctx"]
    assert len(seen) == 1, (seen, r.output)
    return seen[0]


@pytest.mark.parametrize("spelling", SPELLINGS, ids=[" ".join(s) for s in SPELLINGS])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_spelling_reaches_the_same_context(command: str, spelling: list[str], seen: list[int],
                                                 tmp_path: Path) -> None:
    r = runner.invoke(app, _args(command, tmp_path) + spelling + ["-t", "1"], input="")
    assert "Traceback" not in r.output and "No such option" not in r.stderr, r.output
    assert _n_ctx(command, r, seen) == 32768


@pytest.mark.parametrize("bad, words", BAD, ids=[" ".join(b) for b, _ in BAD])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_bad_value_is_one_line_and_exit_2(command: str, bad: list[str], words: str, seen: list[int],
                                                tmp_path: Path) -> None:
    r = runner.invoke(app, _args(command, tmp_path) + bad, input="")
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr
    assert "Traceback" not in r.output and seen == []


def _options(cmd, path: str = "localctx"):
    """(command path, option) for every option of every command, sub-commands included."""
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from _options(sub, f"{path} {name}")
    for p in getattr(cmd, "params", []):
        if getattr(p, "param_type_name", "") == "option":
            yield path, p


def test_a_short_option_means_one_thing_in_every_command() -> None:
    import typer.main

    meaning: dict[str, set[str]] = {}
    where: dict[str, set[str]] = {}
    for path, opt in _options(typer.main.get_command(app)):
        longs = sorted(o for o in opt.opts + opt.secondary_opts if o.startswith("--"))
        for short in (o for o in opt.opts + opt.secondary_opts if not o.startswith("--")):
            meaning.setdefault(short, set()).add(longs[0] if longs else short)
            where.setdefault(short, set()).add(path)
    clashes = {s: (m, where[s]) for s, m in meaning.items() if len(m) > 1}
    assert clashes == {}
    assert meaning["-n"] == {"--max-tokens"} and meaning["-c"] == {"--ctx"} and "-m" not in meaning
