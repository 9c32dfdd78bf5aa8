"""The engine reads llama.cpp's copy of the metadata without failing on bytes that are not UTF-8.

The load gate refuses such files (core/gguf_checks.py); these open the engine past it, as a file that
slipped through would be, and as a valid file whose text value llama-cpp-python cut mid-character."""

from __future__ import annotations

from pathlib import Path

from localctx.core.settings import RuntimeSettings
from tests.gguf_factory import llama_like


def _load(path: Path):
    from localctx.engine.llamacpp import LlamaEngine

    return LlamaEngine(path, RuntimeSettings(n_ctx=256, n_threads=1))


def test_a_name_that_is_not_utf8_loads_with_replacement_characters(tmp_path: Path) -> None:
    path = llama_like(tmp_path / "bad-name.gguf", extra_kv={"general.name": "SmolAB"})
    data = path.read_bytes()
    path.write_bytes(data.replace(b"SmolAB", b"Smol\xff\xfe", 1))
    e = _load(path)
    try:
        assert e.metadata["general.name"] == "Smol\ufffd\ufffd"
        assert e.metadata["general.architecture"] == "llama"
    finally:
        e.close()


def test_a_value_of_exactly_the_first_buffer_size_is_read_whole(tmp_path: Path) -> None:
    """1,024 bytes ending in a two-byte character: llama-cpp-python's reader kept 1,023 of them and failed
    to decode the half character."""
    value = "a" * 1022 + "é"
    assert len(value.encode()) == 1024
    path = llama_like(tmp_path / "long-value.gguf", extra_kv={"general.description": value})
    e = _load(path)
    try:
        assert e.metadata["general.description"] == value
    finally:
        e.close()
