"""The loop guard with a real model: a greedy reply without any penalty that loops is stopped at the
repetition, keeps what came before it, and says so (stop_reason "loop", a notice, ask --json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.core.conversation import ChatOptions
from localctx.core.loops import find_loop
from localctx.core.sampling import GREEDY
from localctx.core.settings import RuntimeSettings
from localctx.services.chat import ChatSession
from localctx.services.runtime import load_engine

pytestmark = pytest.mark.model

#: smollm2 at temperature 0 with no penalty answers this with one phrase over and over
LOOPING = "Describe the package."


def test_a_looping_reply_is_stopped_at_the_repetition_and_says_so(smollm2_path: Path) -> None:
    with load_engine(smollm2_path, RuntimeSettings(n_ctx=1024, n_threads=1)) as eng:
        replies, stats, notices = {}, {}, {}
        for guard in (False, True):
            opts = ChatOptions(reply_tokens=96, sampling=GREEDY, loop_guard=guard)
            with ChatSession.open(smollm2_path, options=opts, engine=eng, persist=False) as chat:
                replies[guard] = chat.ask(LOOPING)
                stats[guard], notices[guard] = chat.last_turn, chat.drain_notices()
                assert chat.turns[-1].assistant == replies[guard]  # the history keeps what was shown
    assert find_loop(replies[False]) is not None, replies[False]  # it does loop without the guard
    assert stats[False].stop_reason == "length"
    assert stats[True].stop_reason == "loop"
    assert find_loop(replies[True]) is None and replies[True].strip()
    assert replies[False].startswith(replies[True])  # what came before the repetition, nothing rewritten
    assert len(replies[True]) < len(replies[False])
    assert any("repeating itself" in n for n in notices[True]) and notices[False] == []


def test_ask_json_reports_the_loop(smollm2_path: Path) -> None:
    from localctx.cli.app import app

    r = CliRunner().invoke(app, ["ask", str(smollm2_path), LOOPING, "--repeat-penalty", "1", "--dry-multiplier", "0",
                                 "-n", "96", "--ctx", "1024", "-t", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["stop_reason"] == "loop" and find_loop(out["answer"]) is None
    assert any("repeating itself" in n for n in out["notices"])
