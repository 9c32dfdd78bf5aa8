"""ggml aborts we did not foresee: one line on stderr naming the model file and ggml's message, exit 1,
nothing on stdout (ggml's default prints a debugger backtrace there and dies with SIGABRT)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from localctx.engine.abort import abort_line
from tests.core.test_gguf_checks import I32, patch_tensor_type
from tests.gguf_factory import llama_like
from tests.slowness import scaled

REPO = Path(__file__).resolve().parents[2]
#: the engine opened directly, past the load gate's checks, on a file llama.cpp aborts on
_BYPASS = """
import sys
from localctx.core.settings import RuntimeSettings
from localctx.engine.llamacpp import LlamaEngine
e = LlamaEngine(sys.argv[1], RuntimeSettings(n_ctx=256, n_threads=1))
print("loaded", flush=True)
e.ingest(e.tokenize(sys.argv[2]) if len(sys.argv) > 2 else [1, 5, 7])
print("survived")
"""


def test_an_unforeseen_abort_is_one_line_and_exit_1(tmp_path: Path) -> None:
    model = llama_like(tmp_path / "norm-i32.gguf")
    patch_tensor_type(model, "output_norm.weight", I32)  # ggml's binary_op aborts: unsupported types
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("GGML_NO_BACKTRACE", None)
    p = subprocess.run([sys.executable, "-c", _BYPASS, str(model)], capture_output=True, text=True,
                       timeout=scaled(120), env=env)
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    assert p.stdout == "loaded\n"  # no backtrace, no "survived"
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr[-3000:]
    assert str(model) in lines[0] and "unsupported types" in lines[0], lines[0]


def test_an_uncaught_cpp_exception_is_exit_1_with_nothing_on_stdout(tmp_path: Path) -> None:
    """A vocabulary without byte tokens: llama.cpp's tokenizer throws out of std::terminate -> SIGABRT.
    (The load gate refuses such a file; the engine is opened past it.)"""
    model = llama_like(tmp_path / "no-byte-tokens.gguf", extra_kv=_spm_vocab([f"<t{i}>" for i in range(64)]))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-c", _BYPASS, str(model), "h\u00e9llo"], capture_output=True, text=True,
                       timeout=scaled(120), env=env)
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    assert p.stdout == "loaded\n"
    assert str(model) in p.stderr.splitlines()[-1] and "Traceback" not in p.stderr


def _spm_vocab(toks: list[str]) -> dict[str, object]:
    return {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": toks, "tokenizer.ggml.scores": [0.0] * len(toks),
            "tokenizer.ggml.token_type": [1] * len(toks), "tokenizer.ggml.bos_token_id": 1,
            "tokenizer.ggml.eos_token_id": 2}


def test_an_abort_while_llama_cpp_loads_is_still_seen(tmp_path: Path) -> None:
    """Two tokens with the same text: llama.cpp's vocabulary loader asserts while llama-cpp-python has
    pointed stderr at /dev/null.  The load gate refuses the file (exit 2); past it, the engine's load
    ends in one line on stderr, exit 1, stdout empty."""
    toks = [f"<t{i}>" for i in range(64)]
    toks[10] = toks[11]
    model = llama_like(tmp_path / "dup-token.gguf", extra_kv=_spm_vocab(toks))
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALCTX_HOME": str(tmp_path / "home")}
    gate = subprocess.run([sys.executable, "-m", "localctx", "ask", str(model), "hi", "--json", "-t", "1", "--ctx",
                           "256", "-n", "4"], capture_output=True, text=True, timeout=scaled(120), env=env)
    assert (gate.returncode, gate.stdout) == (2, ""), (gate.returncode, gate.stderr[-2000:])
    assert "tokens 10 and 11" in gate.stderr
    env.pop("GGML_NO_BACKTRACE", None)
    p = subprocess.run([sys.executable, "-c", _BYPASS, str(model)], capture_output=True, text=True, timeout=scaled(120),
                       env=env)
    assert (p.returncode, p.stdout) == (1, ""), (p.returncode, p.stdout[-500:], p.stderr[-2000:])
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and str(model) in lines[0] and "llama-vocab.cpp" in lines[0], p.stderr
    assert "GGML_ASSERT" in lines[0] and "/tmp/pip" not in lines[0]


def test_abort_line_is_one_line() -> None:
    assert "\n" not in abort_line(b"ggml.c:12: GGML_ASSERT(x)\nfailed\n")
    assert abort_line(None).endswith("try another file or other settings")
    assert "/build/" not in abort_line(b"/build/x/ggml/src/ggml.c:12: GGML_ASSERT(eps >= 0.0f) failed")
