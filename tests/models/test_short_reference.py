"""The reference a message tells a user to type: a model's catalog name when it has one, else its path."""

from __future__ import annotations

import shutil
from pathlib import Path

from localctx.models.catalog import register_model, short_reference


def test_bundled_and_registered_models_are_named_and_others_keep_their_path(smollm2_path: Path,
                                                                             tmp_path: Path) -> None:
    assert short_reference(smollm2_path) == "smollm2"
    copy = tmp_path / "mine.gguf"
    shutil.copyfile(smollm2_path, copy)  # the same bytes, another file: not the bundled model
    assert short_reference(copy) == str(copy)
    register_model(copy, "mine")
    assert short_reference(copy) == "mine"
