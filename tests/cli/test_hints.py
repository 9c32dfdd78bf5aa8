"""Hints name only what exists: a refusal that says `--force` comes from a command that has it, and a
hint that repeats a command keeps the user's flags and names the model as the user typed it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.gguf_factory import llama_like

runner = CliRunner()
HUGE = ["--ctx", "512m", "-t", "1"]  # refused by the memory gate: nothing loads


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return llama_like(tmp_path_factory.mktemp("tiny") / "tiny.gguf", n_embd=128)


def test_every_command_whose_refusal_says_force_has_force(tiny: Path, tmp_path: Path) -> None:
    doc = tmp_path / "notes.txt"
    doc.write_text("The ferry leaves at nine.\n")
    loading = {"ask": ["ask", str(tiny), "hi"], "chat": ["chat", str(tiny)],
               "summarize": ["summarize", str(doc), "--model", str(tiny)],
               "eval passkey": ["eval", "passkey", str(tiny)],
               "eval ppl": ["eval", "ppl", str(tiny), "--file", str(doc)], "bench": ["bench", str(tiny)]}
    for name, args in loading.items():
        r = runner.invoke(app, [*args, *HUGE], input="")
        assert r.exit_code == 1 and "--force loads anyway" in r.stderr, (name, r.output)
        helped = runner.invoke(app, [*name.split(), "--help"])
        assert "--force" in helped.stdout, name


def test_plan_hint_repeats_the_flags_and_the_model_as_typed(tiny: Path) -> None:
    assert runner.invoke(app, ["models", "add", str(tiny), "--name", "tiny"]).exit_code == 0
    r = runner.invoke(app, ["plan", "tiny", "--ctx", "2048", "-t", "1", "-ctk", "q8_0", "-fa", "on", "-b", "256"])
    assert r.exit_code == 0, r.output
    assert "hint: localctx chat tiny --ctx 2048 -t 1 -ctk q8_0 -fa on -b 256" in r.stderr.splitlines()


@pytest.mark.model
def test_an_overflow_hint_repeats_the_flags_and_names_the_model_not_its_path(tmp_path: Path,
                                                                              smollm2_path: Path) -> None:
    from localctx.services.chat import read_document
    from localctx.store import Store

    book = tmp_path / "book.txt"
    book.write_text((Path(__file__).resolve().parents[1] / "data" / "pride_and_prejudice.txt").read_text()[:8000])
    r = runner.invoke(app, ["ask", "smollm2", "Who is it about?", "--file", str(book), "--ctx", "512", "-t", "1",
                            "-ctk", "q8_0", "-n", "4"])
    said = " ".join(r.stderr.split())
    assert r.exit_code == 1 and "(`localctx plan smollm2 -t 1 -ctk q8_0 --ctx " in said, said
    with Store() as store:  # a session stores the model's file path; its hints still say the name
        sid = store.create_session(str(smollm2_path), {"n_ctx": 512, "n_threads": 1}, [read_document(book)]).id
    r = runner.invoke(app, ["chat", "--resume", sid], input="/quit\n")
    said = " ".join(r.stderr.split())
    assert r.exit_code == 1 and "(`localctx plan smollm2 -t 1 --ctx " in said and str(smollm2_path) not in said, said
