"""LlamaEngine against the real llama.cpp and the real SmolLM2 (contexts <= 2048)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.model_info import read_model_info
from localctx.core.settings import RuntimeSettings
from localctx.errors import ContextOverflowError, RuntimeLoadError

pytestmark = pytest.mark.model

PROMPT = [{"role": "user", "content": "Name three colours of the rainbow."}]


@pytest.fixture(scope="module")
def engine(smollm2_path: Path):
    from localctx.engine.llamacpp import LlamaEngine

    e = LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=1024, n_threads=1))
    yield e
    e.close()


def test_tokenize_round_trip(engine) -> None:
    text = "Long contexts, naïve café: 12 345 tokens — ok?"
    toks = engine.tokenize(text)
    assert toks and all(isinstance(t, int) for t in toks)
    assert engine.detokenize(toks) == text
    chat = engine.format_chat(PROMPT)
    assert chat.startswith("<|im_start|>") and chat.endswith("<|im_start|>assistant\n")
    special = engine.tokenize(chat)
    assert engine.detokenize(special) == chat
    assert len(special) < len(engine.tokenize(chat, special=False))  # <|im_start|> is one token


def test_ingest_reuses_the_common_prefix(engine) -> None:
    a = engine.tokenize(engine.format_chat(PROMPT))
    engine.ingest([])
    assert engine.ingest(a) == len(a)
    extra = engine.tokenize("red, orange and yellow.<|im_end|>\n<|im_start|>user\nAnd two more?<|im_end|>\n")
    before = engine.counters()
    evaluated = engine.ingest(a + extra)
    after = engine.counters()
    assert evaluated == len(extra)
    assert after.n_prompt_eval - before.n_prompt_eval == len(extra)  # llama.cpp's own count
    assert engine.cached_tokens == a + extra
    # diverge after the prompt: only the new branch is evaluated
    other = engine.tokenize("blue, green and violet.")
    before = engine.counters()
    assert engine.ingest(a + other) == len(other)
    assert engine.counters().n_prompt_eval - before.n_prompt_eval == len(other)
    # the same tokens again: nothing to evaluate
    assert engine.ingest(a + other) == 0


def test_greedy_stream_is_deterministic_and_stays_cached(engine) -> None:
    prompt = engine.tokenize(engine.format_chat(PROMPT))
    engine.ingest(prompt)
    before = engine.counters()
    first = "".join(engine.stream(12))
    assert engine.stop_reason in ("length", "eos")
    generated = engine.cached_tokens[len(prompt):]
    assert generated and engine.cached_tokens[:len(prompt)] == prompt
    assert engine.counters().n_gen - before.n_gen == len(generated)
    assert engine.detokenize(generated).strip() == first.strip()
    engine.ingest(prompt)  # drops the generated tokens, reuses the prompt
    assert engine.cached_tokens == prompt
    assert "".join(engine.stream(12)) == first


def test_stop_strings_and_should_stop(engine) -> None:
    prompt = engine.tokenize(engine.format_chat(PROMPT))
    engine.ingest(prompt)
    full = "".join(engine.stream(16))
    words = full.split()
    assert len(words) >= 3, full
    stop_word = words[2]
    engine.ingest(prompt)
    cut = "".join(engine.stream(16, stop=[stop_word]))
    assert engine.stop_reason == "stop"
    assert stop_word not in cut and full.startswith(cut)
    engine.ingest(prompt)
    calls = iter([False, False, True])
    pieces = list(engine.stream(16, should_stop=lambda: next(calls)))
    assert engine.stop_reason == "cancelled"
    assert len(engine.cached_tokens) == len(prompt) + 2 and len(pieces) <= 2


def test_save_and_load_state_round_trip(engine, tmp_path: Path) -> None:
    prompt = engine.tokenize(engine.format_chat(PROMPT))
    engine.ingest(prompt)
    state = tmp_path / "doc.state"
    engine.save_state(state)
    assert [p.name for p in tmp_path.iterdir()] == ["doc.state"]  # llama.cpp's file only: no sidecar
    expected = "".join(engine.stream(8))
    engine.ingest(engine.tokenize("something else entirely"))
    engine.load_state(state)
    assert engine.cached_tokens == prompt
    before = engine.counters()
    assert engine.ingest(prompt) == 1  # only the last token, to get its logits back
    assert engine.counters().n_prompt_eval - before.n_prompt_eval <= 1
    assert "".join(engine.stream(8)) == expected


def test_a_state_llama_cpp_rejects_is_quoted(engine, tmp_path: Path) -> None:
    engine.ingest(engine.tokenize("a short state"))
    state = tmp_path / "s.state"
    engine.save_state(state)
    state.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(RuntimeLoadError, match="llama.cpp rejected the state file"):
        engine.load_state(state)
    assert engine.cached_tokens == []


def test_a_state_that_cannot_be_written_raises(engine, tmp_path: Path) -> None:
    engine.ingest(engine.tokenize("a short state"))
    with pytest.raises(RuntimeLoadError, match="could not write the state file"):
        engine.save_state(tmp_path / "no-such-dir" / "s.state")


def test_load_report_from_llama_log(engine, smollm2_path: Path) -> None:
    info = read_model_info(smollm2_path)
    r = engine.report
    assert any(line.startswith("llama_kv_cache: size =") for line in r.lines)
    per_token = info.n_layer * (info.head_count_kv(0) * (info.head_dim_k + info.head_dim_v)) * 2  # f16
    assert r.kv_bytes == per_token * engine.n_ctx
    assert r.applied["n_ctx"] == engine.n_ctx == 1024
    assert r.applied["freq_base"] == info.rope.freq_base
    assert r.applied["freq_scale"] == 1.0
    assert r.compute_bytes and all(v > 0 for v in r.compute_bytes.values())
    assert r.output_bytes and r.output_bytes > 0
    # n_ctx below the trained context: llama.cpp says so at INFO, not as a warning
    assert not any("overflow" in w for w in r.warnings)


def test_quantized_v_without_flash_attention_shows_llama_cpp_error(smollm2_path: Path) -> None:
    from localctx.engine.llamacpp import LlamaEngine

    with pytest.raises(RuntimeLoadError) as exc:
        LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=256, type_k="q8_0", type_v="q8_0", flash_attn=False,
                                                     n_threads=1))
    assert "quantized V cache requires flash_attn" in exc.value.message
    assert exc.value.hint and "-fa" in exc.value.hint
    with LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=256, type_k="q8_0", type_v="q8_0", n_threads=1)) as ok:
        assert ok.report.applied["kv_caches"][0]["type_v"] == "q8_0"  # auto enables flash attention


def test_token_logprobs_prefer_real_text(engine) -> None:
    text = ("The quick brown fox jumps over the lazy dog. It was a bright cold day in April, "
            "and the clocks were striking thirteen.")
    toks = engine.tokenize(text)
    lp = engine.token_logprobs(toks)
    assert len(lp) == len(toks) - 1 and all(v <= 0 for v in lp)
    shuffled = list(reversed(toks))
    lp_bad = engine.token_logprobs(shuffled)
    assert sum(lp) / len(lp) > sum(lp_bad) / len(lp_bad) + 1.0
    # a shorter window gives the same numbers for the shared prefix (causal attention)
    head = engine.token_logprobs(toks[:10])
    assert head == pytest.approx(lp[:9], abs=1e-3)
    with pytest.raises(ContextOverflowError):
        engine.token_logprobs(toks * 100)
