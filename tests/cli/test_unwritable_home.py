"""Commands on a home that cannot be written: a full disk, a read-only one, or a home under a file.

Real file systems, not permission bits (the tests run as root, whom chmod does not stop): a tmpfs of a
few hundred KiB filled to the last byte (ENOSPC), a tmpfs remounted read-only (EROFS), and a home whose
path runs through a regular file (ENOTDIR).  Mounting needs root: without it those cases are skipped and
the home-under-a-file case still runs.  Output that cannot be written goes to /dev/full.  Every command
either goes on (the measurements, the summary, the answer are still shown; one warning says what was not
kept) or refuses in one line naming the file; never a traceback.  Model runs use one thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app

REPO = Path(__file__).resolve().parents[2]
LOCALCTX = [sys.executable, "-m", "localctx"]
KINDS = ("full", "read-only", "under-a-file")


def _mount(where: Path, *options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=512k", *options)), "tmpfs", str(where)],
                       capture_output=True)
    return r.returncode == 0


def _fill(folder: Path) -> None:
    """Write until the file system is full (ENOSPC), keeping what was written."""
    for name, block in (("filler", 4096), ("filler2", 64)):  # then the last partial block
        with open(folder / name, "wb", buffering=0) as f, suppress(OSError):
            while True:
                f.write(b"\0" * block)


@pytest.fixture(params=KINDS)
def unwritable_home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                    ) -> Iterator[tuple[str, Path]]:
    with _home(request.param, tmp_path, monkeypatch) as home:
        yield request.param, home


@contextmanager
def _home(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    if kind == "under-a-file":
        (tmp_path / "a-file").write_text("not a folder")
        home = tmp_path / "a-file" / "home"
        monkeypatch.setenv("LOCALCTX_HOME", str(home))
        yield home
        return
    if not _mount(mnt):
        pytest.skip("mounting a tmpfs needs root")
    try:
        home = mnt / "home"
        home.mkdir()
        monkeypatch.setenv("LOCALCTX_HOME", str(home))
        if kind == "full":
            _fill(mnt)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        yield home
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args), input=input)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"{args}: {r.exception!r}\n{r.stderr}") from r.exception
    return r.exit_code, r.stdout, r.stderr


def _errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [ln for ln in stderr.splitlines() if ln.startswith("error: ")]


def test_models_add_and_plan_save_refuse_in_one_line(unwritable_home: tuple[str, Path], smollm2_path: Path) -> None:
    kind, home = unwritable_home
    code, out, err = cli("models", "add", str(smollm2_path), "--name", "mine")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), (kind, err)
    assert "models.toml" in lines[0] and "model registry" in lines[0], lines[0]
    code, out, err = cli("plan", "smollm2", "--ctx", "2048", "--save")
    (line,) = _errors(err)
    assert code == 1 and "settings.toml" in line and "runtime settings" in line, (kind, err)


@pytest.mark.parametrize("kind", ["full"])
def test_summarize_fresh_completes_without_its_checkpoint(kind: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "short.txt"
    doc.write_text("The cat sat on the mat.\n")
    with _home(kind, tmp_path, monkeypatch):
        code, out, err = cli("summarize", str(doc), "--fresh", "--length", "short", "-t", "1", "-c", "1024")
        assert code == 0 and out.strip(), err
        warned = [ln for ln in err.splitlines() if "summary checkpoint" in ln]
        assert len(warned) == 1 and warned[0].startswith("warning: ") and "without a checkpoint" in warned[0], err
        assert not _errors(err)


@pytest.mark.parametrize("kind", ["full"])
def test_eval_ppl_shows_its_numbers_when_the_results_cannot_be_saved(kind: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("The cat sat on the mat. It was a sunny day and the cat was happy. " * 12)
    with _home(kind, tmp_path, monkeypatch):
        code, out, err = cli("eval", "ppl", "smollm2", "-f", str(doc), "-t", "1", "-c", "128")
        assert code == 0 and "perplexity" in out, err
        warned = [ln for ln in err.splitlines() if "eval results" in ln]
        assert len(warned) == 1 and warned[0].startswith("warning: ") and "disk is full" in warned[0], err


@pytest.mark.parametrize("kind", ["read-only"])
def test_bench_prints_its_measurements_when_they_cannot_be_stored(kind: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with _home(kind, tmp_path, monkeypatch):
        code, out, err = cli("bench", "smollm2", "-t", "1", "--depths", "0", "--repeats", "1", "--gen-tokens", "4",
                             "--no-kernel-probe")
        assert code == 0 and "prompt tok/s" in out and "fit error" in out, err
        warned = [ln for ln in err.splitlines() if "speed calibration" in ln]
        assert len(warned) == 1 and warned[0].startswith("warning: ") and "not kept" in warned[0], err
        assert "calibration stored" not in err


@pytest.mark.parametrize("kind", ["read-only", "under-a-file"])
def test_chat_answers_without_history_when_the_store_cannot_be_written(kind: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with _home(kind, tmp_path, monkeypatch):
        code, out, err = cli("chat", "smollm2", "-t", "1", "-c", "1024", "-n", "4", input="Say hi.\n/quit\n")
        assert code == 0 and out.strip(), err
        said = [ln for ln in err.splitlines() if "session store" in ln]
        assert len(said) == 1 and said[0].startswith("warning: ") and "without saving its history" in said[0], err
        assert not _errors(err)


def test_ask_json_to_a_full_output_is_one_line(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        r = subprocess.run([*LOCALCTX, "ask", "smollm2", "Say hi.", "--json", "-t", "1", "-c", "1024", "-n", "2"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=300, cwd=REPO,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    assert lines == [lines[-1]] and lines[-1].startswith("error: cannot write the JSON output"), r.stderr
