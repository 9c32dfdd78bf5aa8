"""`localctx plan` and `localctx presets` through the real CLI (typer's CliRunner on the app)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app

runner = CliRunner()


def test_plan_smollm2_32k_prints_yarn_plan_and_memory_verdict() -> None:
    r = runner.invoke(app, ["plan", "smollm2", "--ctx", "32768"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "yarn (auto)" in out
    assert "4x (trained context 8,192)" in out
    assert "--rope-scaling yarn --rope-freq-scale 0.25 --yarn-orig-ctx 8192" in out
    assert "original context │ 8,192" in out
    assert "verdict" in out and ("fits:" in out or "does not fit" in out)
    assert "KV 720.00 MiB" in out  # 30 layers x 2 x 192 x f16 x 32768, the same number llama.cpp prints
    assert "moderate stretch (4x)" in r.stderr


def test_plan_json() -> None:
    r = runner.invoke(app, ["plan", "smollm2", "-c", "16384", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    ext = d["extension"]
    assert (ext["method"], ext["factor"], ext["yarn_orig_ctx"], ext["rope_freq_scale"]) == ("yarn", 2.0, 8192, 0.5)
    assert d["settings"]["n_ctx"] == 16384 and d["settings"]["rope_scaling"] == "yarn"
    assert d["verdict"]["fits"] in (True, False, None) and d["memory"]["totals"]["kv"] == 30 * 2 * 192 * 2 * 16384


def test_plan_named_method_and_user_values() -> None:
    r = runner.invoke(app, ["plan", "smollm2", "--ctx", "16384", "--extend", "ntk", "--json"])
    ext = json.loads(r.stdout)["extension"]
    assert ext["method"] == "ntk" and ext["rope_freq_base"] == pytest.approx(100000 * 2 ** (64 / 62))
    r = runner.invoke(app, ["plan", "smollm2", "--ctx", "16384", "--rope-scale", "4", "--rope-scaling", "linear",
                            "--json"])
    ext = json.loads(r.stdout)["extension"]
    assert ext["method"] == "manual" and ext["rope_freq_scale"] == 0.25 and ext["rope_scaling"] == "linear"


@pytest.mark.parametrize("args, words", [
    (["--rope-scale", "0"], "--rope-scale must be greater than 0"),
    (["--rope-scale", "-2"], "--rope-scale must be greater than 0"),
    (["--rope-freq-scale", "0"], "--rope-freq-scale must be greater than 0"),
    (["--yarn-beta-fast", "4", "--yarn-beta-slow", "8"], "--yarn-beta-slow 8 is larger than --yarn-beta-fast 4"),
    (["--yarn-orig-ctx", "40000"], "--yarn-orig-ctx 40000 is larger than the context 16384"),
    (["--rope-scaling", "dynamic"], "unknown --rope-scaling 'dynamic'"),
    (["--extend", "magic"], "unknown --extend 'magic'"),
    (["-ctv", "q3_0"], "unknown --cache-type-v 'q3_0'"),
    (["-fa", "sometimes"], "unknown --flash-attn 'sometimes'"),
])
def test_bad_input_exits_2_with_one_line(args: list[str], words: str) -> None:
    r = runner.invoke(app, ["plan", "smollm2", "--ctx", "16384", *args])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr
    assert r.stdout == ""


def test_plan_save_persists_per_model_and_flags_override() -> None:
    r = runner.invoke(app, ["plan", "smollm2", "--ctx", "16384", "--extend", "linear", "--save"])
    assert r.exit_code == 0, r.output
    d = json.loads(runner.invoke(app, ["plan", "smollm2", "--json"]).stdout)
    assert d["settings"]["n_ctx"] == 16384 and d["extension"]["method"] == "linear"
    d = json.loads(runner.invoke(app, ["plan", "smollm2", "--json", "--extend", "auto", "-c", "32768"]).stdout)
    assert d["settings"]["n_ctx"] == 32768 and d["extension"]["method"] == "yarn"


def test_presets_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = runner.invoke(app, ["presets", "--json"])
    assert r.exit_code == 0, r.output
    items = json.loads(r.stdout)
    assert len({p["family"] for p in items}) >= 8 and all(p["sources"]["extension"] for p in items)
    r = runner.invoke(app, ["presets"])
    assert r.exit_code == 0 and "qwen3-8b" in r.stdout and "Qwen/Qwen3-8B-GGUF" in r.stdout
    bad = tmp_path / "p"
    bad.mkdir()
    (bad / "broken.toml").write_text('family = "X"\n[[models]]\nname = "x"\n')
    monkeypatch.setenv("LOCALCTX_PRESETS_DIR", str(bad))
    r = runner.invoke(app, ["presets"])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "broken.toml" in r.stderr and "missing field 'repo'" in r.stderr


def _rows(out: str) -> dict[str, str]:
    """The plan table's rows, label -> text (wrapped cells joined)."""
    rows: dict[str, str] = {}
    label = ""
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) != 2:
            continue
        label = cells[0] or label
        rows[label] = f"{rows.get(label, '')} {cells[1]}".strip() if cells[0] == "" else cells[1]
    return rows


def test_a_busy_machine_shows_in_the_speed_rows(monkeypatch: pytest.MonkeyPatch, smollm2_path: Path) -> None:
    from localctx.core import forecast as fc
    from localctx.core.model_info import read_model_info
    from localctx.core.settings import RuntimeSettings
    from localctx.services import forecast as sf

    monkeypatch.setenv("LOCALCTX_LOAD", "3.5,2")
    rows = _rows(runner.invoke(app, ["plan", "smollm2", "--ctx", "4k"]).stdout)
    assert "localctx bench smollm2" in rows["speed"]
    assert rows["busy"] == ("this machine is busy (load average 3.50 on 2 cores, no spare core): the default of 2 "
                            "threads (one per core) competes with that work and can run many times slower; "
                            "-t 1 is faster now")
    # a measured forecast holds on free cores: it says it will be slower now
    segs = [fc.Segment(fc.PROMPT, d, 512, 512 * 2.0) for d in (0, 512, 1024)]
    segs += [fc.Segment(fc.GEN, d, 16, 16 * 10.0) for d in (0, 512, 1024)]
    sf.store_calibration(read_model_info(smollm2_path), RuntimeSettings(n_ctx=2048, n_threads=1), segs)
    rows = _rows(runner.invoke(app, ["plan", "smollm2", "--ctx", "4k", "-t", "1"]).stdout)
    assert rows["ingest"].startswith("~") and "measured on this model" in rows["forecast"]
    assert rows["busy"].startswith("measured on free cores, expect it slower now: this machine is busy (load "
                                   "average 3.50 on 2 cores, no spare core): every thread shares its core")
    d = json.loads(runner.invoke(app, ["plan", "smollm2", "--ctx", "4k", "-t", "1", "--json"]).stdout)["forecast"]
    assert d["available"] and d["busy_note"] == rows["busy"]
    assert (d["cpu_load"]["threads"], d["cpu_load"]["threads_given"], d["cpu_load"]["busy"]) == (1, True, True)

    monkeypatch.setenv("LOCALCTX_LOAD", "0.3,2")  # quiet: nothing to add
    assert "busy" not in _rows(runner.invoke(app, ["plan", "smollm2", "--ctx", "4k", "-t", "1"]).stdout)
    d = json.loads(runner.invoke(app, ["plan", "smollm2", "--ctx", "4k", "--json"]).stdout)["forecast"]
    assert d["busy_note"] is None and d["cpu_load"]["busy"] is False
