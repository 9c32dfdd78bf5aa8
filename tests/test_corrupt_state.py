"""Every file localctx keeps (``paths.KEPT``), damaged four ways, under the commands that read it.

For each kind: a good one is made by the real command that writes it (or the real writer), then
truncated, overwritten with bytes that are not UTF-8, replaced by a value of the wrong JSON/TOML type,
and replaced by a folder.  The commands that read it must never print a traceback: they go on (at most
one warning naming the file) or refuse in one error line naming the file.  When a line is printed, its
hint says what to do (delete, remove the folder, move it aside); the test does that, and the next run
is clean.  A kind added to ``KEPT`` without a case here fails ``test_every_kept_file_has_a_case``.
Runs that load a model use smollm2 with one thread and a small context.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx import paths
from localctx.cli.app import app
from tests.gguf_factory import llama_like
from tests.hub.loopback_hub import LoopbackHub, serving_hub

MODES = ("truncate", "garbage", "wrong-type", "folder")
GARBAGE = b"\xff\xfe\x00\x9c\xc3\x28 not text, not JSON, not TOML \x80\x81" * 8
FAST = ["-t", "1", "-c", "1024"]
DOC = "The cat sat on the mat. It was a sunny day and the cat was happy. " * 12
HUB_REPO = "acme/Tiny-GGUF"


@dataclass
class Run:
    args: list[str]
    goes_on: frozenset[str] = frozenset(MODES)  # the modes in which it must still succeed (exit 0)


@dataclass
class Case:
    make: Callable[[Env], None]  # writes a good one with the real command or writer
    reads: list[Run]
    wrong_type: bytes = b"[]"
    noticed: frozenset[str] = frozenset()  # modes that must be said in a line naming the file
    needs_hub: bool = False


@dataclass
class Env:
    tmp: Path
    smollm2: Path
    doc: Path
    short: Path  # one sentence: a one-step summary of a few tokens
    hub: LoopbackHub | None = None
    extra: dict[str, Path] = field(default_factory=dict)


def cli(*args: str) -> tuple[int, str, str, BaseException | None]:
    r = CliRunner().invoke(app, list(args))
    exc = r.exception if r.exception is not None and not isinstance(r.exception, SystemExit) else None
    return r.exit_code, r.stdout, r.stderr, exc


def _ok(*args: str) -> None:
    code, _, err, exc = cli(*args)
    assert code == 0 and exc is None, (args, code, err, exc)


# ---- how each kind is made -------------------------------------------------------------------------
def _register(env: Env) -> None:
    _ok("models", "add", str(env.smollm2), "--name", "mine")


def _save_settings(env: Env) -> None:
    _ok("plan", "smollm2", "--ctx", "2048", "--save")


def _session(env: Env) -> None:
    from localctx.store import Store

    with Store() as store:
        s = store.create_session(str(env.smollm2), {"n_ctx": 1024})
        store.add_turn(s.id, "first?", "one")


def _calibration(env: Env) -> None:
    from localctx.core import forecast as fc
    from localctx.core.model_info import read_model_info
    from localctx.core.settings import RuntimeSettings
    from localctx.services.forecast import store_calibration

    segs = [fc.Segment(fc.PROMPT, d, 128, 100.0 + d / 100) for d in (0, 256, 512)]
    segs += [fc.Segment(fc.GEN, d, 8, 40.0 + d / 100) for d in (0, 256, 512)]
    store_calibration(read_model_info(env.smollm2), RuntimeSettings(n_threads=1), segs)


def _eval(env: Env) -> None:
    _ok("eval", "ppl", "smollm2", "-f", str(env.doc), "-t", "1", "-c", "128")


def _plan(env: Env) -> None:
    _ok("plan", "smollm2", "--ctx", "2048")


def _summarize(env: Env) -> None:
    _ok("summarize", str(env.short), "--length", "short", *FAST)


def _ask(env: Env) -> None:
    _ok("ask", "smollm2", "-f", str(env.short), "Who sat?", "-n", "1", *FAST)


def _pull(env: Env) -> None:
    _ok("pull", HUB_REPO)


def _assembled(env: Env) -> None:
    from localctx.models.catalog import _gemma3_target

    _link_or_copy(env.extra["gemma"], _gemma3_target())
    _gemma3_target().with_suffix(".lock").touch()


def _assembly_pending(env: Env) -> None:
    """A lock left by an earlier assembly, and no assembled file: the next lookup assembles under it."""
    from localctx.models.catalog import _gemma3_target

    paths.ensure(_gemma3_target().parent)
    _gemma3_target().with_suffix(".lock").write_text("")


ASK = ["ask", "smollm2", "-f", "{short}", "Who sat?", "-n", "1", *FAST]
CASES: dict[str, Case] = {
    "model registry": Case(_register, [Run(["models"]), Run(["inspect", "smollm2"]),
                                       Run(["models", "add", "{smollm2}", "--name", "other"], frozenset())],
                           wrong_type=b"models = 3\n", noticed=frozenset({"garbage", "wrong-type", "folder"})),
    "model registry lock": Case(_register, [Run(["models", "add", "{smollm2}", "--name", "other"],
                                                frozenset(MODES) - {"folder"})], noticed=frozenset({"folder"})),
    "runtime settings": Case(_save_settings, [Run(["plan", "smollm2", "--ctx", "2048"], frozenset({"truncate"}))],
                             wrong_type=b"defaults = 5\n", noticed=frozenset({"garbage", "wrong-type", "folder"})),
    "session store": Case(_session, [Run(["sessions"], frozenset())], wrong_type=b"null",
                          noticed=frozenset({"garbage", "wrong-type", "folder"})),
    "speed calibrations": Case(_calibration, [Run(["plan", "smollm2", "--ctx", "2048", "-t", "1"])],
                               noticed=frozenset(MODES)),
    "eval results": Case(_eval, [Run(["eval", "ppl", "smollm2", "-f", "{doc}", "-t", "1", "-c", "128"])]),
    "model fingerprints": Case(_plan, [Run(["plan", "smollm2", "--ctx", "2048"])], noticed=frozenset({"folder"})),
    "summary checkpoints": Case(_summarize, [Run(["summarize", "{short}", "--length", "short", *FAST])],
                                noticed=frozenset({"folder"})),
    "KV states": Case(_ask, [Run(ASK)]),
    "KV state headers": Case(_ask, [Run(ASK)]),
    "verified downloads": Case(_pull, [Run(["pull", HUB_REPO])], needs_hub=True),
    "Hub debug log": Case(_pull, [Run(["pull", HUB_REPO])], needs_hub=True),
    "assembled models": Case(_assembled, [Run(["inspect", "gemma-3-270m"], frozenset(MODES) - {"folder"})],
                             noticed=frozenset({"folder"})),
    "model assembly locks": Case(_assembly_pending, [Run(["inspect", "gemma-3-270m"],
                                                         frozenset(MODES) - {"folder"})],
                                 noticed=frozenset({"folder"})),
}
#: kinds whose reading command is slow (a model summarizes or answers): only the modes that differ
SLOW = {"summary checkpoints": ("wrong-type", "folder"), "eval results": ("garbage", "folder")}


def test_every_kept_file_has_a_case() -> None:
    assert {k.name for k in paths.KEPT} == set(CASES)


# ---- damage and checks -----------------------------------------------------------------------------
def corrupt(path: Path, mode: str, wrong_type: bytes) -> None:
    if mode == "folder":
        _remove(path)
        path.mkdir()
        (path / "inside").write_text("x")
        return
    data = path.read_bytes()
    if path.stat().st_nlink > 1:  # a model linked from the shared or saved copy: damage only this name
        path.unlink()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": GARBAGE, "wrong-type": wrong_type}[mode])


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def apply_hint(line: str, path: Path) -> None:
    """Do what the line's hint says about ``path``: delete it, remove the folder, or move it aside."""
    hint = line.split(" — ", 1)[-1]
    assert " — " in line and str(path) in line, f"no hint about {path}: {line}"
    if "move it aside" in hint:
        path.rename(path.with_name(path.name + ".bad"))
    else:
        assert re.search(r"\b(delete|remove)\b", hint), line
        _remove(path)


def _naming(stderr: str, path: Path) -> list[str]:
    return [ln for ln in stderr.splitlines() if str(path) in ln]


def check_run(run: Run, env: Env, mode: str, path: Path) -> list[str]:
    args = [a.format(doc=env.doc, short=env.short, smollm2=env.smollm2) for a in run.args]
    code, out, err, exc = cli(*args)
    where = f"{mode} {path.name}: {args} -> {code}\n{err}"
    assert exc is None, f"{where}\n{exc!r}"
    assert "Traceback" not in out + err, where
    if mode in run.goes_on:
        assert code == 0, where
    if code != 0:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), where
    named = _naming(err, path)
    assert len(named) <= 1, where
    assert all(ln.startswith(("error: ", "warning: ")) for ln in named), where
    return named


@pytest.fixture
def env(tmp_path: Path, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
        ) -> Iterator[Env]:
    doc = tmp_path / "doc.txt"
    doc.write_text(DOC)
    short = tmp_path / "short.txt"
    short.write_text("The cat sat on the mat.\n")
    e = Env(tmp_path, smollm2_path, doc, short)
    kind = request.node.callspec.params["kind"]
    if kind in ("assembled models", "model assembly locks"):
        e.extra["gemma"] = request.getfixturevalue("gemma_path")
        monkeypatch.setenv("LOCALCTX_MODELS_DIR", str(tmp_path / "models"))
    if CASES[kind].needs_hub:
        for hub in serving_hub(monkeypatch):
            llama = llama_like(tmp_path / "Tiny-Q4_K_M.gguf")
            hub.add_repo(HUB_REPO, {"Tiny-Q4_K_M.gguf": llama})
            e.hub = hub
            yield e
        return
    yield e


def _link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Models are linked, not copied (gemma is 240 MB, saved and restored for every mode): localctx never
    writes a GGUF in place (it assembles into a temp file and renames), and ``corrupt`` unlinks a linked
    file before damaging it, so no copy shares damage.  Everything else is copied."""
    if str(src).endswith(".gguf"):
        try:
            os.link(src, dst)
            return
        except OSError:  # another file system, or links not allowed: copy
            pass
    shutil.copy2(src, dst)


def _snapshot(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    if src.exists():
        shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_damaged_kept_file_is_one_line_and_the_hint_fixes_it(kind: str, env: Env) -> None:
    case = CASES[kind]
    kept = next(k for k in paths.KEPT if k.name == kind)
    case.make(env)
    made = kept.files()
    assert made, f"making {kind} wrote nothing at {kept.locate()}"
    target = made[0]
    saved = {Path(os.environ["LOCALCTX_HOME"]): env.tmp / "saved-home",
             Path(os.environ["HF_HOME"]): env.tmp / "saved-hf"}
    if "gemma" in env.extra:  # this test's own models folder (not the session's shared one)
        saved[paths.models_dir()] = env.tmp / "saved-models"
    for src, dst in saved.items():
        _snapshot(src, dst)
    for mode in SLOW.get(kind, MODES):
        for dst, src in saved.items():  # a fresh copy of the state as made
            _snapshot(src, dst)
        corrupt(target, mode, case.wrong_type)
        named: list[str] = []
        for run in case.reads:
            named += check_run(run, env, mode, target)
        if mode in case.noticed:
            assert named, f"{kind} {mode}: nothing named {target}"
        if not named:
            continue
        apply_hint(named[0], target)
        for run in case.reads:
            args = [a.format(doc=env.doc, short=env.short, smollm2=env.smollm2) for a in run.args]
            code, _, err, exc = cli(*args)
            assert code == 0 and exc is None and not _naming(err, target), (kind, mode, args, err, exc)
