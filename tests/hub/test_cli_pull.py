"""`localctx pull`, `localctx models`, `localctx rm` end to end through the CLI, against the loopback Hub."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.hub.conftest import REPO
from tests.hub.loopback_hub import LoopbackHub

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def _names() -> dict[str, dict]:
    code, out, _ = _run("models", "--json")
    assert code == 0
    return {m["name"]: m for m in json.loads(out)}


def test_list_pull_models_inspect_rm(server: LoopbackHub, tiny_files: dict[str, Path], smollm2_path: Path) -> None:
    repo = server.add_repo(REPO, tiny_files)
    code, out, _ = _run("pull", REPO, "--list", "--json")
    assert code == 0
    listing = json.loads(out)
    assert listing["default"] == "Q4_K_M" and listing["commit"] == repo.commit
    assert {q["quant"]: q["size_bytes"] for q in listing["quants"]} == {
        q: tiny_files[f"Tiny-{q}.gguf"].stat().st_size for q in ("IQ4_XS", "Q4_K_M", "Q8_0")}

    code, out, err = _run("pull", REPO, "--list")
    assert code == 0 and "Q4_K_M" in out and "default" in out

    code, out, _ = _run("pull", f"{REPO}:Q8_0", "--json")
    assert code == 0
    q8 = json.loads(out)
    assert q8["name"] == f"{REPO}:Q8_0" and q8["verified"] and Path(q8["path"]).exists()
    code, out, err = _run("pull", REPO)  # human output: the path on stdout, the summary on stderr
    assert code == 0 and f"{REPO}:Q4_K_M" in err and "sha256 verified" in err
    q4_path = Path(out.strip())
    assert q4_path.name == "Tiny-Q4_K_M.gguf" and q4_path.exists()

    names = _names()
    assert names[f"{REPO}:Q8_0"]["source"] == "hf-cache" and names[f"{REPO}:Q8_0"]["arch"] == "llama"
    assert Path(names[f"{REPO}:Q4_K_M"]["path"]) == q4_path
    assert "smollm2" in names  # the bundled model is still listed

    code, out, _ = _run("inspect", f"{REPO}:q8_0", "--json")
    assert code == 0 and json.loads(out)["n_embd"] == 96

    q8_blob = Path(os.path.realpath(q8["path"]))
    code, out, _ = _run("rm", f"{REPO}:Q8_0", "--json")
    assert code == 0
    removed = json.loads(out)
    assert removed["freed_bytes"] == tiny_files["Tiny-Q8_0.gguf"].stat().st_size and not removed["repo_removed"]
    assert not Path(q8["path"]).exists() and not q8_blob.exists()
    assert f"{REPO}:Q8_0" not in _names() and q4_path.exists()  # the other quant stays

    code, _, err = _run("rm", "smollm2")  # only pulled models can be removed
    assert code == 2 and "is not a model pulled from the Hub" in err and smollm2_path.exists()

    code, _, err = _run("rm", f"{REPO}:Q4_K_M")
    assert code == 0 and "removed" in err
    assert not (Path(os.environ["HF_HOME"]) / "hub" / "models--acme--Tiny-GGUF").exists()
    code, _, err = _run("rm", f"{REPO}:Q4_K_M")
    assert code == 2 and "no model matches" in err


def test_cli_errors_are_one_line_with_the_next_step(server: LoopbackHub, tiny_files: dict[str, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server.add_repo(REPO, tiny_files, access="gated", tokens={"hf_ok"})
    code, _, err = _run("pull", REPO)
    assert code == 1 and err.count("\n") == 1 and "hf auth login" in err and "accept the licence" in err

    monkeypatch.setenv("HF_TOKEN", "hf_ok")
    code, _, err = _run("pull", f"{REPO}:Q3_K_S")
    assert code == 2 and "has no Q3_K_S GGUF (available: IQ4_XS, Q4_K_M, Q8_0)" in err

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _run("inspect", f"{REPO}:Q8_0")
    assert code == 2 and f"run `localctx pull {REPO}:Q8_0` while online" in err
    code, _, err = _run("pull", "not a repo")
    assert code == 2 and "is not a Hub model reference" in err
