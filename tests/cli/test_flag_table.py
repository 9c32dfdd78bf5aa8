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
        "serve": ["serve", "smollm2", "--port", "0"],
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
    # -m is --model wherever it exists (ask, summarize), as in llm and llama.cpp; never --method again
    assert meaning["-n"] == {"--max-tokens"} and meaning["-c"] == {"--ctx"} and meaning["-m"] == {"--model"}


# ---- sampling flags: llama.cpp's names, in every command that generates (and plan, which saves them) ----
SAMPLING_COMMANDS = ["plan", "ask", "chat", "summarize", "tui", "serve"]
#: (flag, value, SamplingSettings field, the value it becomes)
SAMPLING_GOOD = [
    ("--temp", "0.3", "temperature", 0.3), ("--top-k", "40", "top_k", 40), ("--top-p", "0.9", "top_p", 0.9),
    ("--min-p", "0.1", "min_p", 0.1), ("--repeat-penalty", "1.05", "repeat_penalty", 1.05),
    ("--repeat-last-n", "128", "repeat_last_n", 128), ("--dry-multiplier", "0.5", "dry_multiplier", 0.5),
    ("--dry-base", "2", "dry_base", 2.0), ("--dry-allowed-length", "3", "dry_allowed_length", 3),
    ("--dry-penalty-last-n", "256", "dry_penalty_last_n", 256),
]
SAMPLING_BAD = [
    (["--temp", "-1"], "--temp must be 0 or more"),
    (["--temp", "nan"], "--temp must be 0 or more"),
    (["--top-k", "-1"], "--top-k must be 0 or more"),
    (["--top-p", "0"], "--top-p must be above 0 and at most 1"),
    (["--top-p", "1.5"], "--top-p must be above 0 and at most 1"),
    (["--min-p", "2"], "--min-p must be between 0 and 1"),
    (["--repeat-penalty", "0"], "--repeat-penalty must be greater than 0"),
    (["--repeat-last-n", "-2"], "--repeat-last-n must be -1 or more"),
    (["--dry-multiplier", "-0.5"], "--dry-multiplier must be 0 or more"),
    (["--dry-base", "0.5"], "--dry-base must be 1 or more"),
    (["--dry-allowed-length", "-1"], "--dry-allowed-length must be 0 or more"),
    (["--dry-penalty-last-n", "-5"], "--dry-penalty-last-n must be -1 or more"),
]


@pytest.fixture()
def tui_options(monkeypatch: pytest.MonkeyPatch) -> list:
    """The ChatOptions the TUI would open with (its entry point only records them)."""
    import localctx.tui.app

    got: list = []
    monkeypatch.setattr(localctx.tui.app, "run_tui", lambda model=None, **kw: got.append(kw.get("chat_options")))
    return got


@pytest.mark.parametrize("flag, value, name, expected", SAMPLING_GOOD, ids=[g[0] for g in SAMPLING_GOOD])
def test_every_sampling_flag_reaches_the_plan_and_the_tui(flag: str, value: str, name: str, expected: object,
                                                          tui_options: list, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCTX_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALCTX_MEMORY", "64G,60G")
    r = runner.invoke(app, ["plan", "smollm2", "--json", flag, value])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sampling"][name] == expected
    r = runner.invoke(app, ["tui", "smollm2", flag, value])
    assert r.exit_code == 0, r.output
    from localctx.services.runtime import resolve_sampling

    opts = tui_options[0]
    assert getattr(resolve_sampling("smollm2.gguf", opts.sampling_flags).settings, name) == expected


@pytest.mark.parametrize("command", ["ask", "chat", "summarize"])
def test_sampling_flags_are_accepted_up_to_the_load(command: str, seen: list[int], tmp_path: Path) -> None:
    args = [a for flag, value, _, _ in SAMPLING_GOOD for a in (flag, value)]
    r = runner.invoke(app, _args(command, tmp_path) + args + ["-t", "1"], input="")
    assert "No such option" not in r.stderr and "Traceback" not in r.output, r.output
    assert len(seen) == 1  # reached the (refused) load: every flag parsed and passed the checks


@pytest.mark.parametrize("bad, words", SAMPLING_BAD, ids=[" ".join(b) for b, _ in SAMPLING_BAD])
@pytest.mark.parametrize("command", SAMPLING_COMMANDS)
def test_every_bad_sampling_value_is_one_line_and_exit_2(command: str, bad: list[str], words: str,
                                                         seen: list[int], tmp_path: Path) -> None:
    r = runner.invoke(app, _args(command, tmp_path) + bad, input="")
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr
    assert "Traceback" not in r.output and seen == []


def test_sampling_saved_per_model_applies_and_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCTX_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALCTX_MEMORY", "64G,60G")
    r = runner.invoke(app, ["plan", "smollm2", "--temp", "0.2", "--dry-multiplier", "0.5", "--save"])
    assert r.exit_code == 0, r.output
    assert "--temp 0.2 --dry-multiplier 0.5" in r.stderr
    r = runner.invoke(app, ["plan", "smollm2", "--json", "--temp", "0.4"])  # a flag beats the saved value
    data = json.loads(r.stdout)
    assert data["sampling"]["temperature"] == 0.4 and data["sampling"]["dry_multiplier"] == 0.5
    assert data["saved_sampling"] == {"dry_multiplier": 0.5}
    r = runner.invoke(app, ["plan", "smollm2"])
    assert "using saved settings for this model: --temp 0.2 --dry-multiplier 0.5" in r.stderr.replace("\n", " ")
    r = runner.invoke(app, ["plan", "smollm2", "--forget", "--json"])
    assert json.loads(r.stdout)["sampling"]["temperature"] == 0.0 and json.loads(r.stdout)["saved_sampling"] == {}


def test_a_bad_saved_sampling_value_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCTX_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALCTX_MEMORY", "64G,60G")
    from localctx.models.settings_file import settings_file

    settings_file().parent.mkdir(parents=True, exist_ok=True)
    settings_file().write_text('[models."SmolLM2-135M-Instruct.Q4_1.gguf"]\nsampling.dry_base = 0.5\n')
    r = runner.invoke(app, ["plan", "smollm2"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "settings.toml" in lines[0] and "--dry-base must be 1 or more" in lines[0], r.stderr
