"""Presets are model references for `estimate` and `pull`: against the loopback Hub, `estimate PRESET`
reads the preset repo's header remotely (nothing downloaded) and `pull PRESET[:QUANT]` pulls that repo;
offline, `estimate PRESET` says the exact `localctx pull` to run, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.hub.conftest import REPO
from tests.hub.conftest import TINY_PRESET as PRESET
from tests.hub.loopback_hub import LoopbackHub

runner = CliRunner()



@pytest.fixture()
def preset_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "presets"
    d.mkdir()
    (d / "tiny.toml").write_text(PRESET)
    monkeypatch.setenv("LOCALCTX_PRESETS_DIR", str(d))
    return d


def test_estimate_a_preset_reads_its_header_remotely(server: LoopbackHub, tiny_files: dict[str, Path],
                                                     preset_dir: Path) -> None:
    server.add_repo(REPO, tiny_files)
    r = runner.invoke(app, ["estimate", "tiny-1b", "--ctx", "1k", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["arch"] == "llama" and d["plans"][0]["n_ctx_requested"] == 1024
    assert d["plans"][0]["totals"]["weights"] > 0
    q8 = json.loads(runner.invoke(app, ["estimate", "tiny-1b:Q8_0", "--ctx", "1k", "--json"]).stdout)
    assert q8["plans"][0]["totals"]["weights"] > d["plans"][0]["totals"]["weights"]  # n_embd 96 vs 64
    assert server.body_bytes(".gguf") < tiny_files["Tiny-Q8_0.gguf"].stat().st_size  # headers, not files


def test_pull_a_preset_pulls_its_repo(server: LoopbackHub, tiny_files: dict[str, Path], preset_dir: Path) -> None:
    server.add_repo(REPO, tiny_files)
    r = runner.invoke(app, ["pull", "tiny-1b:Q8_0", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["name"] == f"{REPO}:Q8_0" and Path(got["path"]).name == "Tiny-Q8_0.gguf"
    r = runner.invoke(app, ["pull", "tiny-1b:Q2_K"])
    assert r.exit_code == 2 and "preset tiny-1b has no quant 'Q2_K'" in r.stderr
    # pulled, the preset name resolves locally like any model
    r = runner.invoke(app, ["estimate", "tiny-1b:Q8_0", "--json"])
    assert r.exit_code == 0, r.output


def test_offline_estimate_of_a_preset_says_the_pull_to_run(preset_dir: Path) -> None:
    r = runner.invoke(app, ["estimate", "tiny-1b"])  # tests run with HF_HUB_OFFLINE=1
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert lines == ["error: 'tiny-1b' is a preset that is not pulled — run `localctx pull tiny-1b`"]


def test_an_unreachable_hub_is_exit_1_for_a_preset_as_for_a_repo(preset_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    repo = runner.invoke(app, ["estimate", f"{REPO}:Q4_K_M"])
    preset = runner.invoke(app, ["estimate", "tiny-1b"])
    assert repo.exit_code == preset.exit_code == 1, repo.output + preset.output
    assert "cannot reach the Hub" in preset.stderr and "run `localctx pull tiny-1b` when the Hub is reachable" \
        in preset.stderr and len(preset.stderr.strip().splitlines()) == 1
