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
    assert d["forecast"]["available"] is False and "`localctx bench smollm2 -t 1`" in d["forecast"]["hint"]
    r = runner.invoke(app, ["estimate", "smollm2", "-t", "1", "--ctx", "4k"])
    assert r.exit_code == 0, r.output
    assert "localctx bench" in r.output and "ingest to fill" in r.stdout


def test_bench_then_plan_and_estimate_show_the_forecast(gemma_path, tmp_path, capsys) -> None:
    r = runner.invoke(app, ["bench", "smollm2", "-t", "1", "--depths", "0,256", "--repeats", "1",
                            "--gen-tokens", "4", "--no-kernel-probe", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["kernel_probe_file"] is None
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

    # before a document is read: the expected time; after: the real speed is kept beside the calibration
    doc = tmp_path / "ledger.txt"
    doc.write_text("\n\n".join(f"Entry {i}: the clerk counted {i * 7} letters from the harbour and wrote the "
                                 f"total in the ledger beside the price of rope." for i in range(30)))
    r = runner.invoke(app, ["ask", "smollm2", "How many letters in entry 3?", "-f", str(doc), "-t", "1",
                            "--ctx", "2048", "--max-tokens", "12", "--json"])
    assert r.exit_code == 0, r.output
    eta = json.loads(r.stdout)["timings"]["ingest_forecast"]
    assert eta["seconds"] > 0 and eta["source"] == "measured" and 0 < eta["band"] < 5
    p2 = json.loads(runner.invoke(app, ["plan", "smollm2", "-t", "1", "--ctx", "8k", "--json"]).stdout)["forecast"]
    assert p2["observations"] >= 2 and p2["ingest_s"] != p["ingest_s"]  # the document and the reply refined it

    from localctx.cli.chat import _prepare
    from localctx.core.flags import RuntimeFlags
    from localctx.services.chat import ChatSession

    with ChatSession.open("smollm2", [doc], flags=RuntimeFlags(threads=1, ctx=2048), persist=False) as session:
        capsys.readouterr()
        _prepare(session, show=True)
        err = capsys.readouterr().err
    assert "to evaluate them" in err and "forecast ±" in err and "measured" in err or session.ingest_forecast[0] < 2


def test_bench_refuses_a_context_too_small_to_measure() -> None:
    r = runner.invoke(app, ["bench", "smollm2", "-t", "1", "--ctx", "256", "--gen-tokens", "4"])
    assert r.exit_code == 2, r.output
    assert "no room to measure" in r.output and "--ctx" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("depths", ["abc", "0,-5", ","])
def test_bench_refuses_bad_depths_in_one_line(depths: str) -> None:
    r = runner.invoke(app, ["bench", "smollm2", "-t", "1", "--depths", depths])
    assert r.exit_code == 2, r.output
    assert "--depths" in r.output and "Traceback" not in r.output


def test_bench_runs_the_kernel_probe_once_per_machine_and_settings_unless_asked(gemma_path, monkeypatch) -> None:
    from localctx.engine import kernel_probe

    monkeypatch.setattr(kernel_probe, "PROBE_TYPES", ("Q8_0", "Q4_1"))  # the whole set takes ~30 s
    args = ["bench", "smollm2", "-t", "1", "--depths", "0", "--repeats", "1", "--gen-tokens", "4"]
    r = runner.invoke(app, args + ["--json"])
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)["kernel_probe_file"]
    assert first and json.loads(open(first).read())["per_mac"]["prompt"].keys() == {"Q8_0", "Q4_1"}
    r = runner.invoke(app, args)  # already probed with these settings: not again
    assert r.exit_code == 0, r.output
    assert "kernel probe stored" not in r.output
    r = runner.invoke(app, args + ["--kernel-probe", "--json"])  # asked for: again
    assert json.loads(r.stdout)["kernel_probe_file"] == first
    r = runner.invoke(app, ["estimate", str(gemma_path), "-t", "1", "--ctx", "4k", "--json"])
    fc = json.loads(r.stdout)["plans"][0]["forecast"]
    assert fc["source"] == "scaled" and fc["calibrated_on"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert fc["kernel_probe"] is True


def test_a_probe_that_measures_nothing_is_a_warning_and_the_calibration_stands(monkeypatch) -> None:
    from localctx.engine import kernel_probe

    monkeypatch.setattr(kernel_probe, "PROBE_TYPES", ("IQ1_S",))  # needs an importance matrix: never made
    r = runner.invoke(app, ["bench", "smollm2", "-t", "1", "--depths", "0", "--repeats", "1", "--gen-tokens", "4",
                            "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["kernel_probe_file"] is None and d["forecast_at_trained_ctx"]["available"]
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "measured no weight type" in warnings[0] and "Traceback" not in r.stderr
    p = json.loads(runner.invoke(app, ["plan", "smollm2", "-t", "1", "--ctx", "4k", "--json"]).stdout)["forecast"]
    assert p["available"] and p["source"] == "measured"
