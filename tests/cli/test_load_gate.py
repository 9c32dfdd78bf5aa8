"""Every command that loads a model goes through the one load gate: on a fixed machine
(LOCALCTX_MEMORY) a context that does not fit is refused in one line before llama.cpp is called,
``--force`` passes the gate, and the saved per-model settings a load applies are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.errors import RuntimeLoadError

runner = CliRunner()


@pytest.fixture()
def loads(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Every LlamaEngine construction, recorded and refused (no real allocation happens)."""
    from localctx.engine import llamacpp

    calls: list[dict] = []

    def fake_init(self, path, settings=None, **kw) -> None:
        calls.append({"path": str(path), "n_ctx": settings.n_ctx, "type_k": settings.type_k,
                      "type_v": settings.type_v})
        raise RuntimeLoadError("llama.cpp was called (test stand-in)")

    monkeypatch.setattr(llamacpp.LlamaEngine, "__init__", fake_init)
    monkeypatch.setattr(llamacpp.LlamaEngine, "__del__", lambda self: None)
    monkeypatch.setenv("LOCALCTX_MEMORY", "4G,2G")
    return calls


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    doc = tmp_path / "doc.txt"
    doc.write_text("The ferry to Oslo leaves at nine. " * 40)
    return {
        "ask": ["ask", "smollm2", "When does the ferry leave?", "--file", str(doc)],
        "chat": ["chat", "smollm2", "--file", str(doc)],
        "summarize": ["summarize", str(doc), "--model", "smollm2"],
        "eval passkey": ["eval", "passkey", "smollm2", "--depths", "0.5", "--method", "none"],
        "eval ppl": ["eval", "ppl", "smollm2", "--file", str(doc), "--method", "none"],
    }


COMMANDS = ["ask", "chat", "summarize", "eval passkey", "eval ppl"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_context_that_does_not_fit_is_refused_before_llama_cpp(command: str, loads: list[dict],
                                                                 tmp_path: Path) -> None:
    args = _commands(tmp_path)[command] + ["--ctx", "1m", "-t", "1"]
    r = runner.invoke(app, args, input="")
    assert r.exit_code == 1, r.output
    assert loads == []  # refused before llama.cpp saw anything
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert "at 1,048,576 tokens does not fit this machine: RAM needs" in line and "GiB" in line
    assert "does not fit: does not fit" not in line
    assert "the largest context that fits with these settings is" in line and "--force loads anyway" in line
    assert "Traceback" not in r.output


@pytest.mark.parametrize("command", COMMANDS)
def test_force_passes_the_gate(command: str, loads: list[dict], tmp_path: Path) -> None:
    args = _commands(tmp_path)[command] + ["--ctx", "1m", "-t", "1", "--force"]
    r = runner.invoke(app, args, input="")
    assert r.exit_code == 1 and "llama.cpp was called (test stand-in)" in r.stderr, r.output
    assert [c["n_ctx"] for c in loads] == [1 << 20]


@pytest.mark.parametrize("command", COMMANDS)
def test_saved_settings_are_named_when_a_command_applies_them(command: str, loads: list[dict],
                                                              tmp_path: Path) -> None:
    saved = runner.invoke(app, ["plan", "smollm2", "--ctx", "2048", "-ctk", "q8_0", "--save"])
    assert saved.exit_code == 0, saved.output
    r = runner.invoke(app, _commands(tmp_path)[command] + ["-t", "1"], input="")
    assert "using saved settings for this model: --ctx 2048 -ctk q8_0" in r.stderr, r.stderr
    assert loads and loads[0]["n_ctx"] == 2048 and (loads[0]["type_k"], loads[0]["type_v"]) == ("q8_0", "f16")
    # a flag given now wins over the saved value and is not named as saved
    loads.clear()
    r = runner.invoke(app, _commands(tmp_path)[command] + ["-t", "1", "-ctk", "f16"], input="")
    assert "using saved settings for this model: --ctx 2048\n" in r.stderr or \
        r.stderr.count("using saved settings for this model: --ctx 2048 ") == 0, r.stderr
    assert loads and loads[0]["type_k"] == "f16"


def test_an_eval_sweep_is_refused_before_its_first_length_loads(loads: list[dict]) -> None:
    r = runner.invoke(app, ["eval", "passkey", "smollm2", "--lengths", "4k,1m", "--method", "none,yarn",
                            "--depths", "0.5", "-t", "1"])
    assert r.exit_code == 1 and loads == []  # 4k fits, but 1m does not: nothing runs for an hour first
    assert "at 1,048,576 tokens does not fit this machine" in r.stderr
