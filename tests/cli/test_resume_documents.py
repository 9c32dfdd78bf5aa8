"""A resumed chat says when its documents changed or are gone since the session read them, and names
each by the file it came from, even when another file with the same text brought it to the store first."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.services.chat import read_document
from localctx.store import Store

pytestmark = pytest.mark.model
runner = CliRunner()
TEXT = "The ferry to Oslo leaves at nine. Ingrid sells the tickets.\n"


def _session(doc: Path) -> str:
    with Store() as store:
        return store.create_session("smollm2", {"n_ctx": 512, "n_threads": 1}, [read_document(doc)]).id


def _resume(sid: str) -> str:
    r = runner.invoke(app, ["chat", "--resume", sid], input="/quit\n")
    assert r.exit_code == 0, r.output
    return " ".join(r.stderr.split())  # a long line may wrap at the console's width


def test_a_resumed_chat_says_its_file_changed_or_is_gone_under_the_right_name(tmp_path: Path) -> None:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(TEXT)
    second.write_text(TEXT)  # the same text: one row in the store, named after the first
    s1, s2 = _session(first), _session(second)

    quiet = _resume(s2)  # nothing changed: nothing to say, and the name is the session's own file
    assert "first.txt" not in quiet and "changed" not in quiet and "gone" not in quiet, quiet

    second.write_text(TEXT + "The tram leaves at ten.\n")
    first.unlink()
    changed = _resume(s2)
    assert "warning: second.txt: the file changed since this session read it" in changed, changed
    assert f"--file {second})" in changed and "first.txt" not in changed, changed
    gone = _resume(s1)
    assert f"warning: first.txt: the file is gone ({first}); continuing from the text stored" in gone, gone
