"""Small promises, each through the real command: a broken PDF is one line (pypdf's own warning stays
inside), `models add` says what a name meant before (and wants --force to change it), `models forget`
says what it forgot, `doctor` says whether a GPU is here, not only what the build could do, and
`sessions --limit` refuses what is not a count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.gguf_factory import llama_like

runner = CliRunner()


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("two")
    return llama_like(d / "a.gguf"), llama_like(d / "b.gguf", n_embd=96)


def _said(r) -> str:  # type: ignore[no-untyped-def]
    return " ".join(r.stderr.split())


def test_a_fake_pdf_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    # a real process: pytest's own logging handlers would swallow pypdf's warning in-process
    r = subprocess.run([sys.executable, "-m", "localctx", "summarize", str(fake)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: {fake}: cannot read this PDF (PdfStreamError: Stream has ended unexpectedly)"]


def test_models_add_never_silently_repoints_or_shadows_a_name(two: tuple[Path, Path]) -> None:
    a, b = two
    assert runner.invoke(app, ["models", "add", str(a), "--name", "mine"]).exit_code == 0
    assert runner.invoke(app, ["models", "add", str(a), "--name", "mine"]).exit_code == 0  # the same: no change
    r = runner.invoke(app, ["models", "add", str(b), "--name", "mine"])
    assert r.exit_code == 2 and f"'mine' is registered already, for {a}" in _said(r) and "--force" in _said(r)
    r = runner.invoke(app, ["models", "add", str(b), "--name", "mine", "--force"])
    assert r.exit_code == 0 and f"'mine' pointed to {a}; it now points to {b}" in _said(r)

    r = runner.invoke(app, ["models", "add", str(a), "--name", "qwen3-8b"])
    assert r.exit_code == 2 and "'qwen3-8b' is the name of the preset qwen3-8b" in _said(r)
    r = runner.invoke(app, ["models", "add", str(a), "--name", "qwen3-8b", "--force"])
    assert r.exit_code == 0 and "'qwen3-8b' now names this file, not the preset qwen3-8b" in _said(r)
    inspected = json.loads(runner.invoke(app, ["inspect", "qwen3-8b", "--json"]).stdout)
    assert Path(inspected["path"]) == a


def test_models_forget_says_what_it_forgot(two: tuple[Path, Path]) -> None:
    a, _ = two
    assert runner.invoke(app, ["models", "add", str(a), "--name", "mine"]).exit_code == 0
    r = runner.invoke(app, ["models", "forget", "mine"])
    assert r.exit_code == 0 and f"forgot 'mine' (it pointed to {a}; the file is left alone)" in _said(r)
    assert a.exists()
    r = runner.invoke(app, ["models", "forget", "mine"])
    assert r.exit_code == 2 and "'mine' is not a registered model" in _said(r)


def test_doctor_says_whether_a_gpu_is_here() -> None:
    d = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    if not d["gpu_offload"]:
        assert d["offload"].startswith("no:")
    elif d["gpu_devices"]:
        assert d["offload"].startswith("yes: -ngl places layers on")
    else:  # a build that could offload (RPC counts) on a machine without a GPU: not a bare "yes"
        assert "there is no GPU here: layers stay on the CPU" in d["offload"]
    text = " ".join(runner.invoke(app, ["doctor"]).stdout.split())
    assert d["offload"].split(":")[0] in text


@pytest.mark.parametrize("limit", ["-1", "0"])
def test_sessions_limit_must_be_a_count(limit: str) -> None:
    r = runner.invoke(app, ["sessions", "--limit", limit])
    assert r.exit_code == 2 and "--limit" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.model
def test_chat_says_when_the_context_and_the_reply_reserve_are_not_what_was_asked() -> None:
    r = runner.invoke(app, ["chat", "smollm2", "--ctx", "600", "-t", "1"], input="/quit\n")
    assert r.exit_code == 0, r.output
    said = _said(r)
    assert "n_ctx is 768, not the 600 asked: llama.cpp rounds the context to a multiple of 256" in said
    assert "the reply reserve is 192 tokens, not 512 (-n): at most a quarter of n_ctx 768" in said
