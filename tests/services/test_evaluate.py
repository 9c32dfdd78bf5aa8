"""The eval service against real llama.cpp: perplexity equals one computed independently from the
model's logits, each method's settings reach llama.cpp, passkey runs record their plan, Self-Extend
is never combined with YaRN, Ctrl-C keeps what was measured."""

from __future__ import annotations

import json
import math
from pathlib import Path

import llama_cpp
import llama_cpp.llama_cpp as llama_low
import numpy as np
import pytest

from localctx import paths
from localctx.core import passkey as pk
from localctx.core.rope import ntk_base
from localctx.errors import InsufficientMemoryError, LocalctxError, SettingsError
from localctx.services import evaluate as ev

pytestmark = pytest.mark.model
BOOK = Path(__file__).resolve().parents[1] / "data" / "pride_and_prejudice.txt"
FLAGS = {"n_threads": 1}


@pytest.fixture()
def short_text(tmp_path: Path) -> Path:
    p = tmp_path / "excerpt.txt"
    p.write_text(BOOK.read_text(encoding="utf-8")[:4000], encoding="utf-8")
    return p


def _independent_logprobs(model: Path, text: str, n: int, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """llama_cpp's high-level Llama with logits_all, numpy log-softmax: no localctx code involved."""
    orig = llama_low.llama_model_default_params

    def no_repack():  # type: ignore[no-untyped-def]
        p = orig()
        p.use_extra_bufts = False  # weight repacking segfaults on this AMX CPU (see the engine)
        return p

    monkeypatch.setattr(llama_low, "llama_model_default_params", no_repack)
    llm = llama_cpp.Llama(str(model), n_ctx=n, n_batch=n, logits_all=True, verbose=False, n_threads=1)
    try:
        toks = llm.tokenize(text.encode(), add_bos=True, special=False)[:n]
        llm.eval(toks)
        logits = np.asarray(llm.scores[:n], dtype=np.float64)
    finally:
        llm.close()
    m = logits.max(axis=1, keepdims=True)
    logsm = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return [float(logsm[i - 1, toks[i]]) for i in range(1, n)]


def test_perplexity_equals_an_independent_computation(smollm2_path: Path, short_text: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # llama-cpp-python's Llama runs without flash attention; so does this run (on CPU, flash attention's
    # f16 accumulation moves SmolLM2's perplexity by ~1%)
    rep = ev.run_ppl(smollm2_path, short_text, n_ctx=256, methods=["none"], bucket=64,
                     flags={**FLAGS, "flash_attn": False})
    run = rep.runs[0]
    ref = _independent_logprobs(smollm2_path, short_text.read_text(encoding="utf-8"), 256, monkeypatch)
    assert run.n_tokens == len(ref) == 255
    ref_ppl = math.exp(-sum(ref) / len(ref))
    assert run.ppl == pytest.approx(ref_ppl, rel=1e-4)
    for b in run.buckets:  # by position too
        lo, hi = max(b.start, 1), b.end
        assert b.ppl == pytest.approx(math.exp(-sum(ref[lo - 1:hi - 1]) / (hi - lo)), rel=1e-4)
    assert 1 < run.ppl < 200  # English text under a real model, not noise


def test_each_method_reaches_llama_cpp(smollm2_path: Path, short_text: Path) -> None:
    """Planned for 2x (16384) but evaluated in a short window: llama.cpp's own log says what it applied."""
    rep = ev.run_ppl(smollm2_path, short_text, n_ctx=256, methods=["none", "linear", "ntk", "yarn", "auto"],
                     plan_ctx=16384, bucket=128, flags=FLAGS)
    got = {r.run.method: r for r in rep.runs}
    applied = {m: r.run.applied for m, r in got.items()}
    assert applied["none"]["freq_scale"] == 1.0 and applied["none"]["freq_base"] == 100000.0
    assert applied["linear"]["freq_scale"] == 0.5
    assert applied["ntk"]["freq_base"] == pytest.approx(ntk_base(100000.0, 2.0, 64), rel=1e-5)
    assert applied["ntk"]["freq_scale"] == 1.0
    assert applied["yarn"]["freq_scale"] == 0.5 and applied["yarn"].get("yarn_adjusted")
    assert applied["yarn"]["yarn_orig_ctx"] == 8192
    assert got["auto"].run.plan["method"] == "yarn"  # no scaling in the GGUF: auto picks YaRN
    # the settings change the numbers: plain interpolation hurts a model not tuned for it
    assert got["linear"].ppl > got["none"].ppl * 1.2
    assert got["ntk"].ppl != got["none"].ppl and got["yarn"].ppl != got["none"].ppl
    assert got["auto"].logprobs == got["yarn"].logprobs  # same plan, same llama.cpp settings, same numbers
    saved = json.loads(rep.path.read_text())  # type: ignore[union-attr]
    assert saved["params"]["plan_ctx"] == 16384
    assert [r["run"]["plan"]["parameters"] for r in saved["results"]][2]["rope_freq_base"] == pytest.approx(
        ntk_base(100000.0, 2.0, 64))
    assert len(saved["results"][0]["logprobs"]) == 255


def test_passkey_run_records_plan_keys_and_results(smollm2_path: Path) -> None:
    rep = ev.run_passkey(smollm2_path, lengths=[512], depths=[0.5], trials=2, methods=["none"], flags=FLAGS)
    keys = ev.trial_keys(0, 512, 0.5, 2)
    assert [t.key for t in rep.results] == keys
    assert rep.cell("none", 512, 0.5).correct == 2  # a 135M model finds a key in 512 tokens
    assert all(t.n_prompt == pk.prompt_tokens_for_context(512) for t in rep.results)
    assert rep.path is not None and rep.path.parent == paths.data_dir() / "evals"
    saved = json.loads(rep.path.read_text())
    assert saved["runs"][0]["settings"]["n_ctx"] == 512
    assert saved["runs"][0]["plan"]["method"] == "none"
    assert saved["runs"][0]["applied"]["n_ctx"] == 512
    assert saved["table"]["none"]["512@0.5"]["correct"] == 2
    assert [t["key"] for t in saved["trials"]] == keys


def test_self_extend_is_never_combined_with_yarn(smollm2_path: Path) -> None:
    with pytest.raises(SettingsError, match="YaRN"):
        ev.run_passkey(smollm2_path, lengths=[16384], depths=[0.5], methods=["self-extend"],
                       flags={"rope_scaling": "yarn", "n_threads": 1})


def test_interrupt_keeps_what_was_measured(smollm2_path: Path) -> None:
    stop = [False]

    def progress(done: int, total: int, label: str) -> None:
        if label.endswith("#1") and done >= 384:  # trial 1 is finished
            stop[0] = True

    rep = ev.run_passkey(smollm2_path, lengths=[384], depths=[0.5], trials=3, methods=["none"], flags=FLAGS,
                         progress=progress, should_stop=lambda: stop[0])
    assert rep.interrupted and len(rep.results) == 1  # stopped by should_stop: the partial report comes back
    files = list((paths.data_dir() / "evals").glob("*-passkey-*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    assert saved["interrupted"] is True and len(saved["trials"]) == 1
    with pytest.raises(KeyboardInterrupt):  # a plain Ctrl-C (no should_stop) still propagates, after saving
        ev.run_passkey(smollm2_path, lengths=[384], depths=[0.5], trials=1, methods=["none"], flags=FLAGS,
                       progress=lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert len(list((paths.data_dir() / "evals").glob("*-passkey-*.json"))) == 2


def test_text_shorter_than_the_window_is_refused(smollm2_path: Path, short_text: Path) -> None:
    with pytest.raises(LocalctxError, match="needs 4,096") as e:
        ev.run_ppl(smollm2_path, short_text, n_ctx=4096, flags=FLAGS)
    assert e.value.exit_code == 2
    with pytest.raises(SettingsError, match="unknown method"):
        ev.run_ppl(smollm2_path, short_text, n_ctx=256, methods=["warp"], flags=FLAGS)


def test_a_length_that_does_not_fit_is_refused_before_loading(smollm2_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """eval loads through the load gate like every other command: the memory verdict comes first."""
    monkeypatch.setenv("LOCALCTX_MEMORY", "2G,700M")  # less free RAM than the reserve the gate keeps
    with pytest.raises(InsufficientMemoryError, match="does not fit"):
        ev.run_passkey(smollm2_path, lengths=[4096], depths=[0.5], methods=["none"], flags=FLAGS, save=False)
    with pytest.raises(InsufficientMemoryError, match="does not fit"):
        ev.run_ppl(smollm2_path, BOOK, n_ctx=4096, methods=["none"], flags=FLAGS, save=False)
