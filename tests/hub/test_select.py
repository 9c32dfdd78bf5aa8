"""Choosing the GGUF in a repo: references, quant names, shards, the default and its fallback (pure logic)."""

from __future__ import annotations

import pytest

from localctx.errors import LocalctxError
from localctx.hub.select import (
    HubFile,
    QuantNotFoundError,
    RepoListing,
    choose,
    group_ggufs,
    is_safe_repo_path,
    looks_like_hub_ref,
    parse_ref,
    quant_of,
)


def _listing(*names: str) -> RepoListing:
    return RepoListing("o/r", "main", "0" * 40, group_ggufs(HubFile(n, 100 + i, None) for i, n in enumerate(names)))


@pytest.mark.parametrize("ref,repo,sel", [
    ("bartowski/SmolLM2-GGUF", "bartowski/SmolLM2-GGUF", None),
    ("bartowski/SmolLM2-GGUF:q4_k_m", "bartowski/SmolLM2-GGUF", "q4_k_m"),
    ("hf.co/unsloth/Qwen3-8B-GGUF:UD-Q4_K_XL", "unsloth/Qwen3-8B-GGUF", "UD-Q4_K_XL"),
    ("https://huggingface.co/o/r:sub/f-Q8_0.gguf", "o/r", "sub/f-Q8_0.gguf"),
])
def test_parse_ref(ref: str, repo: str, sel: str | None) -> None:
    r = parse_ref(ref)
    assert (r.repo, r.selector, r.revision) == (repo, sel, "main")


@pytest.mark.parametrize("bad", ["noslash", "../x/y", "a/b/c", "o/..", "/abs/path"])
def test_parse_ref_rejects(bad: str) -> None:
    with pytest.raises(LocalctxError) as ei:
        parse_ref(bad)
    assert ei.value.exit_code == 2


def test_hub_shaped_refs_are_not_paths() -> None:
    assert looks_like_hub_ref("o/r") and looks_like_hub_ref("o/r:Q8_0") and looks_like_hub_ref("o/r:f.gguf")
    assert not looks_like_hub_ref("models/foo.gguf") and not looks_like_hub_ref("./a/b") and not looks_like_hub_ref("x")


@pytest.mark.parametrize("name,quant", [
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
    ("Qwen3-8B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("llama-3-8b-instruct-q4_k_m.gguf", "Q4_K_M"),
    ("Q8_0/Big-Model-Q8_0-00002-of-00004.gguf", "Q8_0"),
    ("BF16/model-00001-of-00002.gguf", "BF16"),
    ("gemma-3-270m-it-IQ4_XS.gguf", "IQ4_XS"),
    ("plain-model.gguf", "plain-model"),
])
def test_quant_of(name: str, quant: str) -> None:
    assert quant_of(name) == quant


def test_shards_grouped_and_incomplete_splits_and_projectors_skipped() -> None:
    listing = _listing("A-Q4_K_M-00001-of-00003.gguf", "A-Q4_K_M-00003-of-00003.gguf", "A-Q4_K_M-00002-of-00003.gguf",
                       "B-Q8_0-00001-of-00002.gguf", "mmproj-A-F16.gguf", "A-imatrix.gguf", "README.md", "A-Q6_K.gguf")
    got = {c.quant: [f.path for f in c.files] for c in listing.choices}
    assert got == {"Q4_K_M": [f"A-Q4_K_M-0000{i}-of-00003.gguf" for i in (1, 2, 3)], "Q6_K": ["A-Q6_K.gguf"]}


def test_default_is_q4_k_m_case_insensitive_selection() -> None:
    listing = _listing("m-Q8_0.gguf", "m-Q4_K_M.gguf", "m-IQ4_XS.gguf")
    assert choose(listing, None) == (listing.choices[1], [])
    assert choose(listing, "q8_0")[0].quant == "Q8_0"
    assert choose(listing, "m-IQ4_XS.gguf")[0].quant == "IQ4_XS"


def test_fallback_says_what_exists() -> None:
    listing = _listing("m-Q8_0.gguf", "m-Q6_K.gguf", "m-F16.gguf")
    choice, notes = choose(listing, None)
    assert choice.quant == "Q6_K"
    assert notes == ["o/r has no Q4_K_M; using Q6_K (available: F16, Q6_K, Q8_0)"]


def test_missing_quant_lists_what_exists() -> None:
    with pytest.raises(QuantNotFoundError) as ei:
        choose(_listing("m-Q8_0.gguf", "m-Q6_K.gguf"), "Q2_K")
    assert ei.value.exit_code == 2
    assert "o/r has no Q2_K GGUF (available: Q6_K, Q8_0)" in ei.value.one_line()
    assert "localctx pull o/r:Q6_K" in ei.value.one_line()


@pytest.mark.parametrize("path,ok", [
    ("a.gguf", True), ("sub/a.gguf", True), ("../a.gguf", False), ("sub/../../a.gguf", False), ("/etc/a.gguf", False),
    ("a\\..\\b.gguf", False), ("C:/a.gguf", False), ("a//b.gguf", False), ("./a.gguf", False),
])
def test_safe_repo_paths(path: str, ok: bool) -> None:
    assert is_safe_repo_path(path) is ok
