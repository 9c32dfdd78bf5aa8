"""Every CLI table and every `--help` at 80 columns: nothing a user reads or types is cut with "…".

The commands come from the Typer app itself: a command added later gets its `--help` checked at once,
and the test of the classification fails until it says whether the command prints a table (then it
needs a case here) or not.  ``cuts`` is the checker: a "…" glued to a word is a cut (a number, an ID,
a flag or a model name shortened by Rich), except a path that ``_tables.elide_middle`` shortened in its
middle on purpose ("/home/so…/model.gguf": the file name is whole).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer.main
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from localctx.cli import _output
from localctx.cli.app import app
from localctx.services.state_cache import CacheEntry, StateCache
from localctx.store import Store
from localctx.store.store import Document
from tests.gguf_factory import llama_like

runner = CliRunner()
WIDTH = 80
BOOK = Path(__file__).resolve().parents[1] / "data" / "pride_and_prejudice.txt"
_CUT = re.compile(r"(\S*)…(\S*)")


# ---- the checker ---------------------------------------------------------------------------------
def cuts(text: str) -> list[str]:
    """Each word of ``text`` with a "…" glued to it, named by what was cut; a lone "…" (a pause in
    prose) and a path elided in its middle are not cuts."""
    found = []
    for m in _CUT.finditer(text.replace("\u00a0", " ")):
        left, right = m.group(1).strip("│┃║|([{'\"`"), m.group(2).strip("│┃║|)]}'\"`,.;:")
        if not left and not right:
            continue
        if right.startswith("/"):  # elide_middle: the head of a path … its file name, whole
            continue
        word = m.group(0)
        kind = ("number" if re.fullmatch(r"[\d,.]*", left + right)
                else "flag" if left.startswith("-") else "ID or name")
        found.append(f"{kind}: {word!r}")
    return found


def whole(token: str, text: str) -> bool:
    """``token`` appears in ``text`` with no word character glued to either end (not cut, not folded)."""
    flat = text.replace("\u00a0", " ")
    return re.search(rf"(?<![\w.-]){re.escape(token)}(?![\w-])", flat) is not None


def test_the_checker_catches_cut_numbers_ids_and_flags() -> None:
    """What the old tables printed at 80 columns, and what Rich itself prints when it cuts a cell."""
    assert cuts("┃ component  ┃ 8,… ┃ 8,192 · K … ┃ 32,… ┃") == ["number: '8,…'", "number: '32,…'"]
    assert cuts("│ weights    │ 92… │   92.10 MiB │ 92.… │") == ["number: '92…'", "number: '92.…'"]
    assert cuts("│ --kernel-probe      --no-kernel-pro…    <bool> │") == ["flag: '--no-kernel-pro…'"]
    assert cuts("5e55… gemma-3-2…") == ["ID or name: '5e55…'", "ID or name: 'gemma-3-2…'"]
    assert cuts("location  /home/so…/SmolLM2-135M-Instruct.Q4_1.gguf") == []  # elided on purpose
    assert cuts("model  /hom…Instruct.Q4_1.gguf  Met…-Q4_K_M.gguf") == ["ID or name: '/hom…Instruct.Q4_1.gguf'",
                                                                       "ID or name: 'Met…-Q4_K_M.gguf'"]
    assert cuts("thinking … (Esc stops)") == []
    console = Console(width=40, file=open("/dev/null", "w"), color_system=None)
    t = Table("component", *(f"{n:,} · f16" for n in (8192, 32768, 131072)))
    t.add_row("weights", "92.10 MiB", "92.10 MiB", "92.10 MiB")
    with console.capture() as cap:
        console.print(t)
    assert any(k.startswith("number") for k in cuts(cap.get())), cap.get()  # Rich's own cut is caught
    assert ragged(" The calibration is kept per model file, machine and the settings that change   \n"
                  " speed                                                                          \n"
                  " (-t, -fa): run it again.\n") == ["'speed' then '(-t,'"]
    assert ragged(" Usage: localctx bench [OPTIONS]\n\n One line.\n A second paragraph line that wraps " + "x" * 40
                  + "\n") == ["'One line.' then 'A'"]
    assert whole("8,192", "a 8,192 b") and not whole("8,192", "a 8,1923") and not whole("131,072", "131,0")


# ---- every command, from the Typer app -----------------------------------------------------------
def commands() -> list[tuple[tuple[str, ...], object]]:
    """(path, click command) for the app and every command and subcommand under it."""
    out = []

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        out.append((path, cmd))
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


COMMANDS = commands()

#: commands that print a table, each rendered below with real data
TABLES = {("estimate",), ("inspect",), ("plan",), ("doctor",), ("models",), ("presets",), ("sessions",),
          ("cache", "ls"), ("bench",), ("eval", "passkey"), ("eval", "ppl"), ("pull",), ("config", "show")}
#: commands that print no table (lines, a stream of text, a screen, a server's log)
NO_TABLE = {(), ("chat",), ("ask",), ("summarize",), ("tui",), ("rpc-server",), ("serve",), ("rm",),
            ("models", "add"), ("models", "forget"), ("models", "default"), ("cache",), ("cache", "clear"),
            ("eval",), ("sessions", "rm"), ("config",), ("config", "path")}


def test_every_command_is_known_to_print_a_table_or_not() -> None:
    paths = {p for p, _ in COMMANDS}
    assert len(paths) >= 24 and ("eval", "ppl") in paths and ("models", "add") in paths
    unknown = sorted(" ".join(p) for p in paths - TABLES - NO_TABLE)
    assert not unknown, (f"commands not classified: {unknown}; add each to TABLES (with a case in "
                         "test_tables_at_80_columns) or to NO_TABLE in tests/cli/test_width.py")
    assert TABLES <= paths


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "localctx")
def test_help_at_80_columns_cuts_no_flag(path: tuple[str, ...]) -> None:
    cmd = dict(COMMANDS)[path]
    r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "Usage:" in out and out.count("\n") > 3
    assert all(len(line) <= WIDTH for line in out.splitlines()), max(out.splitlines(), key=len)
    assert cuts(out) == [], out
    params = cmd.get_params(cmd.context_class(cmd))  # type: ignore[attr-defined]  # with --help
    flags = [o for p in params if not getattr(p, "hidden", False) for o in (*p.opts, *p.secondary_opts)
             if o.startswith("-")]
    assert "--help" in flags
    missing = [f for f in flags if not whole(f, out)]
    assert not missing, (missing, out)
    for name in (getattr(cmd, "commands", None) or {}):  # a group lists its commands whole
        assert whole(name, out), (name, out)
    assert ragged(out) == [], out


def ragged(help_text: str) -> list[str]:
    """Lines of the description (above the first panel) that end where the next line's first word would
    have fit: a line break kept from the docstring's source, not a wrap at the terminal's width."""
    top = help_text.split("╭")[0].split("\n")
    found = []
    for line, nxt in zip(top, top[1:], strict=False):
        text, words = line.strip(), nxt.split()
        if text and words and not text.startswith("Usage:") and len(text) + 1 + len(words[0]) <= WIDTH - 2:
            found.append(f"{text!r} then {words[0]!r}")
    return found


# ---- every table, with real data -----------------------------------------------------------------
@pytest.fixture
def width80() -> Iterator[None]:
    """The CLI's stdout console at 80 columns (it reads COLUMNS once, when it is created)."""
    before = _output.stdout.width
    _output.stdout.width = WIDTH
    yield
    _output.stdout.width = before


@dataclass
class Case:
    args: list[str]
    shows: list[str]  # values that must appear whole
    setup: str = ""  # the name of a setup step below
    model: bool = False  # runs llama.cpp
    extra: dict[str, str] = field(default_factory=dict)


CASES = {
    "estimate, three contexts by two KV types": Case(
        ["estimate", "smollm2", "--ctx", "8k,32k,128k", "-ctk", "f16,q8_0"],
        ["8,192", "32,768", "131,072", "K q8_0/V f16", "92.10 MiB", "2.81 GiB", "overhead (assumed)"]),
    "estimate, the README's example": Case(["estimate", "smollm2", "--ctx", "8k,32k", "-ctk", "f16,q8_0"],
                                           ["8,192", "32,768", "720.00 MiB", "551.25 MiB"]),
    "estimate, sliding window": Case(["estimate", "gemma-3-270m", "--ctx", "32k,128k", "-ctk", "f16,q8_0"],
                                     ["32,768", "131,072", "KV (sliding)"]),
    "estimate --verify": Case(["estimate", "smollm2", "--ctx", "8k,32k", "--verify", "-t", "1"],
                              ["localctx", "llama.cpp", "720.00 MiB", "32,768 · f16"], model=True),
    "inspect": Case(["inspect", "smollm2"], ["134,515,008", "49,152", "tensor bytes by type", "93.81 MiB"]),
    "plan": Case(["plan", "smollm2", "--ctx", "32k", "-t", "1"], ["--rope-freq-scale", "8,192", "975.67 MiB"]),
    "doctor": Case(["doctor"], ["llama-cpp-python", "RPC (other machines)", "CPU features"]),
    "models, one unreadable": Case(["models"], ["smollm2", "93.81 MiB", "8,192", "tiny-with-a-long-name"],
                                   setup="broken_model"),
    "presets": Case(["presets"], ["8,192"]),
    "config show": Case(["config", "show"], ["sampling.dry_penalty_last_n", "(all layers with a GPU backend, else 0)",
                                             "built-in"]),
    "sessions": Case(["sessions"], [], setup="sessions"),
    "cache ls": Case(["cache", "ls"], ["98,765", "131,072", "123.00 MiB"], setup="cache"),
    "bench": Case(["bench", "smollm2", "-t", "1", "--ctx", "1024", "--depths", "0,256", "--repeats", "1",
                   "--gen-tokens", "2", "--no-kernel-probe"], ["depth", "prompt tok/s", "generation tok/s", "8,192"],
                  model=True),
    "eval passkey": Case(["eval", "passkey", "smollm2", "-t", "1", "--ctx", "320", "--lengths", "256,320",
                          "--depths", "0.25,0.5,0.75", "--method", "none", "--trials", "1"],
                         ["256 @25%", "320 @75%", "trained context 8,192"], model=True),
    "eval ppl": Case(["eval", "ppl", "smollm2", "-t", "1", "--ctx", "320", "--bucket", "32", "--method",
                      "none,linear"], ["0-32", "288-320", "linear"], setup="excerpt", model=True),
    "pull --list": Case(["pull", "acme/Tiny-Meta-Llama-3.1-8B-Instruct-GGUF", "--list"],
                        ["Q4_K_M", "IQ4_XS", "Tiny-Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf", "default"],
                        setup="hub"),
}


def test_every_table_command_has_a_case() -> None:
    covered = {tuple(c.args[:2]) if tuple(c.args[:2]) in TABLES else tuple(c.args[:1]) for c in CASES.values()}
    assert covered == TABLES, TABLES - covered


LONG_MODEL = "/home/someone/models/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"


def _broken_model(tmp_path: Path, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = llama_like(tmp_path / "tiny.gguf")
    assert runner.invoke(app, ["models", "add", str(tiny), "--name", "tiny-with-a-long-name"]).exit_code == 0
    tiny.unlink()  # its row now carries an error


def _sessions(tmp_path: Path, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [Document(sha256=f"{i:064x}", name=f"quarterly-report-{i}-with-a-long-name.pdf", path=f"/d/{i}.pdf",
                     text="x") for i in range(2)]
    with Store() as store:
        for _ in range(2):
            sid = store.create_session(LONG_MODEL, {"n_ctx": 8192}, docs).id
            store.add_turn(sid, "What changed between the second and the third quarter in the northern region?",
                           "Costs rose.")
            case.shows.append(sid)


def _cache(tmp_path: Path, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = StateCache()
    cache.root.mkdir(parents=True)
    now = time.time()
    key = "ab" * 32
    cache.state_path(key).write_bytes(b"\0" * 1024)
    entry = CacheEntry(key=key, size=123 << 20, sha256="0" * 64, n_tokens=98_765, tokens_sha256="0" * 64,
                       created_at=now, last_used=now, model=LONG_MODEL,
                       documents=["a-very-long-document-name-about-the-harbour.md"], n_ctx=131_072)
    cache.header_path(key).write_text(json.dumps(entry.to_json()))
    case.shows.append(key[:12])


def _excerpt(tmp_path: Path, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "excerpt.txt"
    p.write_text(BOOK.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    case.args += ["--file", str(p)]


def _hub(tmp_path: Path, case: Case, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tests.hub.loopback_hub import serving_hub

    files = {}
    for quant, embd in (("Q4_K_M", 64), ("Q8_0", 96), ("IQ4_XS", 32)):
        name = f"Tiny-Meta-Llama-3.1-8B-Instruct-{quant}.gguf"
        files[name] = llama_like(tmp_path / name, n_embd=embd, n_head=4, n_head_kv=2)
    for hub in serving_hub(monkeypatch):
        hub.add_repo(case.args[1], files)
        yield


SETUPS = {"broken_model": _broken_model, "sessions": _sessions, "cache": _cache, "excerpt": _excerpt}


@pytest.mark.parametrize("name", list(CASES))
def test_tables_at_80_columns(name: str, width80: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              request: pytest.FixtureRequest) -> None:
    case = CASES[name]
    case = Case(list(case.args), list(case.shows), case.setup, case.model)
    if case.model:
        request.getfixturevalue("smollm2_path")
    if "gemma-3-270m" in case.args:
        request.getfixturevalue("gemma_path")
    hub = None
    if case.setup == "hub":
        hub = _hub(tmp_path, case, monkeypatch)
        next(hub)
    elif case.setup:
        SETUPS[case.setup](tmp_path, case, monkeypatch)
    try:
        r = runner.invoke(app, case.args)
    finally:
        if hub is not None:
            next(hub, None)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert cuts(out) == [], out
    missing = [s for s in case.shows if not whole(s, out)]
    assert not missing, (missing, out)
    assert len(case.shows) >= 1
