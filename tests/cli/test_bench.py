"""`localctx bench` and the forecast it feeds into `plan` and `estimate`, through the real CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app

runner = CliRunner()


def test_plan_and_estimate_without_a_calibration_say_how_to_make_one() -> None:
    r = runner.invoke(app, ["plan", "smollm2", "-t", "1", "--ctx", "4k"])
    assert r.exit_code == 0, r.output
    assert "localctx bench" in r.stdout and "-t 1" in r.stdout
    d = json.loads(runner.invoke(app, ["plan", "smollm2", "-t", "1", "--json"]).stdout)
    assert d["forecast"]["available"] is False and "localctx bench" in d["forecast"]["hint"]
    r = runner.invoke(app, ["estimate", "smollm2", "-t", "1", "--ctx", "4k"])
    assert r.exit_code == 0, r.output
    assert "localctx bench" in r.output and "ingest to fill" in r.stdout


def test_bench_then_plan_and_estimate_show_the_forecast(gemma_path) -> None:
    r = runner.invoke(app, ["bench", "smollm2", "-t", "1", "--depths", "0,256", "--repeats", "1",
                            "--gen-tokens", "4", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["settings"]["threads"] == 1 and d["settings"]["type_k"] == "f16"
    assert [row["depth"] for row in d["by_depth"]] == [0, 256]
    assert all(row["prompt_tok_s"] > 0 and row["gen_tok_s"] > 0 for row in d["by_depth"])
    assert set(d["fits"]) == {"prompt", "gen"} and d["forecast_at_trained_ctx"]["available"]

    p = json.loads(runner.invoke(app, ["plan", "smollm2", "-t", "1", "--ctx", "8k", "--json"]).stdout)["forecast"]
    assert p["available"] and p["source"] == "measured" and p["n_ctx"] == 8192
    assert p["ingest_s"] > 0 and p["gen_tok_s"] > 0 and p["reply_tokens"] == 500 and p["reply_s"] > 0
    r = runner.invoke(app, ["plan", "smollm2", "-t", "1", "--ctx", "8k"])
    assert "ingest" in r.stdout and "7,692-token document" in r.stdout and "500-token reply" in r.stdout

    r = runner.invoke(app, ["estimate", "smollm2", "-t", "1", "--ctx", "4k,8k", "--json"])
    plans = json.loads(r.stdout)["plans"]
    assert [pl["forecast"]["n_ctx"] for pl in plans] == [4096, 8192]
    assert plans[1]["forecast"]["ingest_s"] > plans[0]["forecast"]["ingest_s"]
    # another model with the same settings on this machine: scaled, and marked so
    r = runner.invoke(app, ["estimate", str(gemma_path), "-t", "1", "--ctx", "4k"])
    assert r.exit_code == 0, r.output
    assert "scaled from SmolLM2" in r.stdout and "not measured" in r.stdout
    # other settings: no calibration for them
    assert "localctx bench" in runner.invoke(app, ["plan", "smollm2", "-t", "1", "-ctk", "q8_0", "-fa", "on"]).stdout


@pytest.mark.parametrize("depths", ["abc", "0,-5", ","])
def test_bench_refuses_bad_depths_in_one_line(depths: str) -> None:
    r = runner.invoke(app, ["bench", "smollm2", "-t", "1", "--depths", depths])
    assert r.exit_code == 2, r.output
    assert "--depths" in r.output and "Traceback" not in r.output
