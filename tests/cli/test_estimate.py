"""`localctx estimate` through the real CLI: tables, JSON, verdicts, --max-ctx, --verify and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.core.units import parse_tokens as parse_ctx
from localctx.errors import SettingsError

runner = CliRunner()


@pytest.mark.parametrize("text, n", [("8k", 8192), ("128K", 131072), ("1m", 1 << 20), ("65536", 65536),
                                     ("1.5k", 1536), (" 32k ", 32768)])
def test_parse_ctx(text: str, n: int) -> None:
    assert parse_ctx(text) == n


@pytest.mark.parametrize("text", ["abc", "8g", "-1", "0", "0.3k", ""])
def test_parse_ctx_rejects(text: str) -> None:
    with pytest.raises(SettingsError):
        parse_ctx(text)


def test_json_plans_per_context_and_kv_type(smollm2_path: Path) -> None:
    r = runner.invoke(app, ["estimate", "smollm2", "--ctx", "8k,32k", "-ctk", "f16,q8_0", "-ctv", "f16,q8_0",
                            "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    got = [(p["n_ctx_requested"], p["kv_type"], p["totals"]["kv"]) for p in d["plans"]]
    assert got == [(8192, "f16", 30 * 8192 * 2 * 384), (8192, "q8_0", 30 * 8192 * 2 * 204),
                   (32768, "f16", 30 * 32768 * 2 * 384), (32768, "q8_0", 30 * 32768 * 2 * 204)]
    plan = d["plans"][0]
    assert plan["devices"][0]["device"] == "CPU" and plan["devices"][0]["weights"] == 96576768
    assert plan["layout"]["n_ctx"] == 8192 and plan["layout"]["flash_attn"] is True
    assert plan["verdict"]["fits"] is True and plan["verdict"]["devices"][0]["available"] > 0
    assert d["max_ctx"] is None and d["verify"] is None


def test_human_table_with_max_ctx(gemma_path: Path) -> None:
    r = runner.invoke(app, ["estimate", "gemma-3-270m", "--ctx", "4k,32k", "--max-ctx"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    for text in ("KV (full attn)", "KV (sliding)", "compute buffer", "fits now", "SWA 1,024", "3 full, 15 SWA",
                 "largest context that fits with f16 KV"):
        assert text in out, text


def test_swa_full_and_parallel_change_the_cache(gemma_path: Path) -> None:
    def kv(*extra: str) -> int:
        r = runner.invoke(app, ["estimate", "gemma-3-270m", "--ctx", "32k", "--json", *extra])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)["plans"][0]["totals"]["kv"]

    base = kv()
    assert kv("--swa-full") == base + 15 * (32768 - 1024) * 1024  # 15 SWA layers, K+V of 256 dims in f16
    assert kv("--parallel", "2") > base  # two SWA streams


def test_gpu_layers_without_a_gpu_is_stated(smollm2_path: Path) -> None:
    r = runner.invoke(app, ["estimate", "smollm2", "--ctx", "4k", "--gpu-layers", "10", "--json"])
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    if not d["machine"]["gpus"]:
        assert len(d["plans"][0]["devices"]) == 1
        assert any("no GPU" in n for n in d["plans"][0]["notes"])


@pytest.mark.parametrize("args, message", [
    (["--ctx", "abc"], "cannot read --ctx 'abc'"),
    (["--ctx", "0"], "greater than 0"),
    (["--ctx", "8k,0"], "greater than 0"),
    (["-ctk", "q3_k"], "unknown --cache-type-k 'q3_k'"),
    (["-ctk", "f16,q3_k"], "unknown --cache-type-k 'q3_k'"),
    (["-ctv", "q8_0", "-fa", "off"], "requires flash attention"),
    (["-fa", "sometimes"], "unknown --flash-attn 'sometimes'"),
])
def test_bad_settings_exit_2_with_one_line(smollm2_path: Path, args: list[str], message: str) -> None:
    r = runner.invoke(app, ["estimate", "smollm2", *args])
    assert r.exit_code == 2
    assert message in r.stderr and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_model_exits_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["estimate", str(tmp_path / "nope.gguf")])
    assert r.exit_code == 2 and "Traceback" not in r.output


@pytest.mark.model
def test_verify_puts_llama_cpp_beside_the_plan(smollm2_path: Path) -> None:
    r = runner.invoke(app, ["estimate", "smollm2", "--ctx", "2k", "-ctk", "q8_0", "-ctv", "q8_0", "--verify", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    v, p = d["verify"][0], d["plans"][0]
    assert v["mode"] == "dry-run"
    assert v["weights"] == p["totals"]["weights"]
    assert round(v["kv"] / 2**20, 2) == round(p["totals"]["kv"] / 2**20, 2)
    assert abs(p["totals"]["compute"] / v["compute"] - 1) <= 0.05
    r = runner.invoke(app, ["estimate", "smollm2", "--ctx", "2k", "--verify"])
    assert r.exit_code == 0 and "localctx vs llama.cpp (dry-run)" in r.stdout and "difference" in r.stdout


def test_hub_reference_offline_says_what_to_do() -> None:
    r = runner.invoke(app, ["estimate", "bartowski/SomeModel-GGUF:Q4_K_M"])  # HF_HUB_OFFLINE=1 in tests
    assert r.exit_code in (1, 2) and "Traceback" not in r.output
    assert "HF_HUB_OFFLINE" in r.stderr or "pull" in r.stderr
