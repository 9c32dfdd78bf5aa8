"""A loaded model's vocabulary: text to token ids and back, and the text of one token.

Needs only the model (no context), so the engine holds one and delegates; kept apart from the engine
because the buffer-size retries of llama.cpp's tokenizer API are a job of their own.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import llama_cpp

from localctx.errors import RuntimeLoadError


class Vocab:
    """llama.cpp's ``llama_vocab`` of a loaded model."""

    def __init__(self, vocab: Any) -> None:
        self.ptr = vocab

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.ptr, data, len(data), buf, cap, add_bos, special)
        if n < 0:
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.ptr, data, len(data), buf, cap, add_bos, special)
        return list(buf[:n])

    def detokenize_bytes(self, tokens: Sequence[int], special: bool) -> bytes:
        """Bytes, not text: one token can end in the middle of a UTF-8 character."""
        if not tokens:
            return b""
        arr = (llama_cpp.llama_token * len(tokens))(*tokens)
        cap = len(tokens) * 8 + 16
        for _ in range(2):
            out = ctypes.create_string_buffer(cap)
            n = llama_cpp.llama_detokenize(self.ptr, arr, len(tokens), out, cap, False, special)
            if n >= 0:
                return out.raw[:n]
            cap = -n + 1
        raise RuntimeLoadError("llama.cpp could not detokenize")

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.detokenize_bytes(tokens, True).decode("utf-8", "replace")

    def token_text(self, tok: int) -> str:
        """The text of one token as the vocabulary stores it ("" for -1, e.g. a model without EOS)."""
        return "" if tok < 0 else llama_cpp.llama_vocab_get_text(self.ptr, tok).decode("utf-8", "replace")

    @property
    def bos(self) -> int:
        return int(llama_cpp.llama_vocab_bos(self.ptr))

    @property
    def eos(self) -> int:
        return int(llama_cpp.llama_vocab_eos(self.ptr))

    def is_eog(self, tok: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.ptr, tok))
