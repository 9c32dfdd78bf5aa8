"""Where a TUI Save writes is checked before anything is written; every failure is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.errors import LocalctxError
from localctx.tui.save import check_save_path, write_failed


def test_a_file_in_an_existing_folder_is_accepted(tmp_path: Path) -> None:
    assert check_save_path(f" {tmp_path}/notes.md ") == tmp_path / "notes.md"


@pytest.mark.parametrize(("name", "words"), [("missing/dir/x.md", "does not exist"), (".", "is a directory")])
def test_a_bad_target_is_one_line_that_says_why(tmp_path: Path, name: str, words: str) -> None:
    with pytest.raises(LocalctxError) as info:
        check_save_path(str(tmp_path / name))
    line = info.value.one_line()
    assert words in line and "\n" not in line and "Errno" not in line


def test_a_write_error_becomes_one_line(tmp_path: Path) -> None:
    err = write_failed(tmp_path / "x.md", PermissionError(13, "Permission denied"))
    assert err.one_line().startswith(f"cannot save to {tmp_path / 'x.md'}: Permission denied")
