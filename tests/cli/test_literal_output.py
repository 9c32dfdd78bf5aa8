"""What the user typed (or a file holds) is echoed as text: no Rich markup or emoji codes applied to
it, no terminal control sequences passed through raw."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args,shown", [
    (["ask", "smollm2", "hi", "--rpc", "a:b:c", "-t", "1"], "'a:b:c'"),  # :b: was the emoji 🅱
    (["inspect", "\x1b[31mred\x07.gguf"], "'\\x1b[31mred\\x07.gguf'"),  # colour and bell, raw
    (["inspect", "[/x] [bold]:smile:.gguf"], "'[/x] [bold]:smile:.gguf'"),
    (["estimate", "\u202egguf.exe"], "'\\u202egguf.exe'"),  # a right-to-left override
])
def test_errors_echo_user_text_literally(args: list[str], shown: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALCTX_HOME": str(tmp_path / "home")}
    p = subprocess.run([sys.executable, "-m", "localctx", *args], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and shown in lines[0], lines
    assert "\x1b" not in p.stderr and "\x07" not in p.stderr and "\u202e" not in p.stderr
    assert "🅱" not in p.stderr and "😄" not in p.stderr


def test_inspect_shows_a_models_text_as_text(tmp_path: Path) -> None:
    """A name from the file with markup, an emoji code and an escape sequence: shown as written (it was
    a MarkupError traceback)."""
    from tests.gguf_factory import llama_like

    model = llama_like(tmp_path / "[q4] model.gguf", extra_kv={"general.name": "[/bold] :smile: \x1b[31mred"})
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALCTX_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    p = subprocess.run([sys.executable, "-m", "localctx", "inspect", str(model)], capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "[q4] model.gguf" in p.stdout and "[/bold] :smile: \\x1b[31mred" in p.stdout, p.stdout
    assert "\x1b" not in p.stdout and "Traceback" not in p.stderr
