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
