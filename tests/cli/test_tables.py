"""Tables at 80 columns: `sessions`, `cache ls`, `models` and `presets` never cut what a user types
(a session ID for --resume, a model or preset name, a repo), keep numbers with their units, elide only
paths, and have --json for everything they show."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from localctx.cli import _output
from localctx.cli._tables import Col, elide_middle, table
from localctx.cli.app import app as cli_app
from localctx.models.presets import load_presets
from localctx.services.state_cache import CacheEntry, StateCache
from localctx.store import Store
from localctx.store.store import Document

runner = CliRunner()
LONG_MODEL = "/home/someone/models/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"


@pytest.fixture
def width80() -> Iterator[None]:
    """The CLI's stdout console at 80 columns (it reads COLUMNS once, when it is created)."""
    before = _output.stdout.width
    _output.stdout.width = 80
    yield
    _output.stdout.width = before


def run(*args: str) -> str:
    r = runner.invoke(cli_app, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


def assert_within_80(out: str) -> None:
    assert all(len(line.rstrip()) <= 80 for line in out.splitlines()), out


def test_sessions_never_cut_the_id_resume_needs(width80: None) -> None:
    docs = [Document(sha256=f"{i:064x}", name=f"quarterly-report-{i}-with-a-long-name.pdf", path=f"/d/{i}.pdf",
                     text="x") for i in range(3)]
    with Store() as store:
        ids = [store.create_session(LONG_MODEL, {"n_ctx": 8192}, docs).id for _ in range(3)]
        for sid in ids:
            store.add_turn(sid, "What changed between the second and the third quarter in the northern region, "
                                "and why did the margins fall?", "Costs rose.")
    out = run("sessions")
    assert_within_80(out)
    for sid in ids:  # a table row, or one record per session when the model's name leaves no room for one
        assert re.search(rf"(^|\s){sid}(\s|$)", out, re.M), out
    assert "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf" in out and "northern" in out  # the model's name whole

    rows = json.loads(run("sessions", "--json"))
    assert {r["id"] for r in rows} == set(ids)
    r = rows[0]
    assert r["model"] == LONG_MODEL and r["turns"] == 1 and r["title"].startswith("What changed")
    assert [d["name"] for d in r["documents"]] == [d.name for d in docs] and r["updated_at"] > 0


def test_cache_ls_keeps_keys_and_units_whole(width80: None) -> None:
    cache = StateCache()
    cache.root.mkdir(parents=True)
    now = time.time()
    keys = [f"{i:x}" * 64 for i in (10, 11)]
    for i, key in enumerate(keys):
        cache.state_path(key).write_bytes(b"\0" * 1024)
        entry = CacheEntry(key=key, size=(123 + i) << 20, sha256="0" * 64, n_tokens=98_765 + i,
                           tokens_sha256="0" * 64, created_at=now, last_used=now - i, model=LONG_MODEL,
                           documents=["a-very-long-document-name-about-the-harbour.md", "appendix-b.txt"],
                           n_ctx=131_072)
        cache.header_path(key).write_text(json.dumps(entry.to_json()))
    out = run("cache", "ls")
    assert_within_80(out)
    for i, key in enumerate(keys):  # a table, or one record per entry when a table cannot fit 80 columns
        assert re.search(rf"(^|\s){key[:12]}(\s|$)", out, re.M), out
        for value in (f"{98_765 + i:,}", "131,072", f"{123 + i}.00 MiB"):
            assert re.search(rf"(^|\s){re.escape(value)}(\s|$)", out, re.M), (value, out)
    assert "Q4_K_M.gguf" in out  # the model path keeps its end, the file name

    data = json.loads(run("cache", "ls", "--json"))
    assert [e["key"] for e in data["entries"]] == keys and data["entries"][0]["model"] == LONG_MODEL
    assert data["entries"][0]["size"] == 123 << 20 and data["entries"][0]["n_tokens"] == 98_765


def test_models_at_80_columns_cut_no_name_and_split_no_unit(width80: None, smollm2_path: Path) -> None:
    out = run("models")
    assert_within_80(out)
    assert "…" not in out
    assert re.search(r"\bsmollm2\b", out) and "93.81 MiB" in out and "8,192" in out
    assert str(smollm2_path) in out.replace("\n", "").replace(" ", "")  # the path, folded whole in its block
    rows = {r["name"]: r for r in json.loads(run("models", "--json"))}
    r = rows["smollm2"]
    assert (r["arch"], r["quant"], r["ctx_train"], r["path"]) == ("llama", "Q4_1", 8192, str(smollm2_path))
    assert r["size_bytes"] > 0 and r["n_params"] > 0 and r["source"] == "bundled"


def test_models_in_a_wider_terminal_is_a_table_with_the_path_elided_in_the_middle(smollm2_path: Path) -> None:
    before = _output.stdout.width
    _output.stdout.width = 110
    try:
        out = run("models")
    finally:
        _output.stdout.width = before
    line = next(x for x in out.splitlines() if x.startswith("smollm2 "))
    assert "llama" in line and "93.81 MiB" in line and "8,192" in line and "bundled" in line
    assert "…" in line and line.rstrip().endswith("Q4_1.gguf")  # the middle went, the file name stayed
    assert len(line.rstrip()) <= 110


def test_presets_at_80_columns_cut_no_name_or_repo(width80: None) -> None:
    out = run("presets")
    assert_within_80(out)
    assert "…" not in out
    flat = out.replace("\n", " ")
    for p in load_presets():
        assert re.search(rf"(^|\s){re.escape(p.name)}(\s|$)", out, re.M), p.name
        assert p.repo in out, p.repo
        assert f"{p.n_ctx_train:,}" in flat
    data = json.loads(run("presets", "--json"))
    assert {d["name"] for d in data} == {p.name for p in load_presets()}
    assert all(d["repo"] and d["files"] and d["n_ctx_train"] for d in data)


def test_table_sizes_columns_by_kind() -> None:
    console = Console(width=60, file=open("/dev/null", "w"), color_system=None)
    cols = (Col("id", "key"), Col("size", "number", "right"), Col("path", "path"), Col("note"))
    rows = [["5e55104d", "93.81 MiB", "/a/very/long/folder/and/then/the-model-file.gguf", "one two three four"]]
    with console.capture() as cap:
        console.print(table(console, cols, rows))
    out = cap.get()
    assert "5e55104d" in out and "93.81 MiB" in out and "model-file.gguf" in out and "…" in out
    assert all(len(line.rstrip()) <= 60 for line in out.splitlines())
    narrow = Console(width=30, file=open("/dev/null", "w"), color_system=None)
    with narrow.capture() as cap:
        narrow.print(table(narrow, cols, rows))
    out = cap.get()
    assert "id    5e55104d" in out and "size  93.81 MiB" in out  # one record per row when a table cannot fit


def test_elide_middle_keeps_the_end() -> None:
    assert elide_middle("short", 10) == "short"
    e = elide_middle("/home/someone/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", 24)
    assert len(e) == 24 and e.startswith("/home") and e.endswith("Q4_K_M.gguf") and "…" in e


@pytest.mark.parametrize("width", [80, 110])
def test_models_gives_an_unreadable_models_error_a_line_of_its_own(width: int, tmp_path: Path) -> None:
    from tests.gguf_factory import llama_like

    tiny = llama_like(tmp_path / "tiny.gguf")
    run("models", "add", str(tiny), "--name", "tiny-with-a-long-name")
    tiny.unlink()
    before = _output.stdout.width
    _output.stdout.width = width
    try:
        out = run("models")
    finally:
        _output.stdout.width = before
    assert "…" not in out, out  # the error was elided in the middle like a path in the location column
    line = next(x for x in out.splitlines() if x.startswith("tiny-with-a-long-name: "))
    assert f"{tiny}: no such file" in line and line.rstrip().endswith("known models"), out
