"""Bad files are refused by localctx before llama.cpp ever opens them."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.errors import GGUFError
from localctx.services.runtime import load_engine
from tests.gguf_factory import llama_like


@pytest.mark.parametrize("make", ["unknown_arch", "truncated", "not_gguf"])
def test_load_engine_refuses_before_llama_cpp(make: str, tmp_path: Path, smollm2_path: Path) -> None:
    if make == "unknown_arch":
        p = llama_like(tmp_path / "frob.gguf", arch="frobnicator")
    elif make == "truncated":
        p = tmp_path / "cut.gguf"
        p.write_bytes(smollm2_path.read_bytes()[:5_000_000])
    else:
        p = tmp_path / "text.gguf"
        p.write_text("not a model")
    with pytest.raises(GGUFError) as exc:
        load_engine(str(p))
    assert p.name in str(exc.value)
