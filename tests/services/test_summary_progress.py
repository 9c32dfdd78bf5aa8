"""A summary's progress after a resume: steps taken from the checkpoint move the counts, never the speeds,
so the time left is what the remaining steps will take and the total says how many steps were reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.extract import extract
from localctx.core.settings import RuntimeSettings
from localctx.services.runtime import load_engine
from localctx.services.summarize import SummarizeOptions, summarize
from localctx.services.summary_progress import SummaryClock, SummaryEvent
from tests.services.test_summarize import make_long_text


def test_resumed_steps_count_as_done_but_never_as_speed() -> None:
    now = [0.0]
    events: list[SummaryEvent] = []
    c = SummaryClock(events.append, expected_output=40, clock=lambda: now[0])
    c.steps_total, c.tokens_total = 4, 2000
    c.step_done("map-0", 500, resumed=True)  # two steps from the checkpoint, in no time
    c.step_done("map-1", 500, resumed=True)
    e = events[-1]
    assert (e.steps_done, e.resumed, e.tokens_done) == (2, 2, 1000)
    assert e.read_rate is None and e.write_rate is None and e.seconds_left is None  # no speed from them
    assert e.fraction == pytest.approx(0.5)  # the bar starts where the checkpoint left it

    c.reading_step("map-2", 40)
    now[0] = 5.0
    c.read(250)
    assert events[-1].read_rate == pytest.approx(50.0)  # 250 tokens in 5 s (not 1,250)
    assert events[-1].seconds_left is None  # nothing written yet: no time left promised
    now[0] = 10.0
    c.read(500)
    c.writing_step(500)
    now[0] = 12.0
    c.wrote(20)
    e = events[-1]
    assert (e.phase, e.running, e.written, e.write_cap) == ("write", "map-2", 20, 40)
    assert e.write_rate == pytest.approx(10.0)
    # left: 500 prompt tokens at 50/s, and 2 steps x 40 tokens less the 20 written at 10/s
    assert e.seconds_left == pytest.approx(10 + 6)
    now[0] = 14.0
    c.wrote(40)
    c.step_done("map-2", 500, resumed=False)
    e = events[-1]
    assert (e.steps_done, e.resumed, e.read_rate, e.write_rate) == (3, 2, 50.0, 10.0)
    assert e.seconds_left == pytest.approx(500 / 50 + 40 / 10) and e.fraction == pytest.approx(0.5)
    c.emit("done", "final")
    assert events[-1].seconds_left == 0 and events[-1].fraction == 1.0


@pytest.mark.model
def test_a_resumed_summary_says_how_many_steps_it_reused(tmp_path: Path) -> None:
    text, _facts = make_long_text(1)
    src = tmp_path / "lisbon.md"
    src.write_text(text)
    doc = extract(src)
    opts = SummarizeOptions(map_tokens=24, final_tokens=24, chunk_tokens=250)  # two chunks and a final merge

    def interrupt(ev: SummaryEvent) -> None:
        if ev.phase == "step" and ev.step == "map-0":
            raise KeyboardInterrupt

    events: list[SummaryEvent] = []
    with load_engine("smollm2", RuntimeSettings(n_ctx=512, n_threads=1)) as eng:  # too small for one pass
        with pytest.raises(KeyboardInterrupt):
            summarize(eng, doc, opts, on_event=interrupt)
        r = summarize(eng, doc, opts, on_event=events.append)
    steps = [s for lvl in r.levels for s in lvl if s.kind != "carry"]
    assert len(steps) == 3 and r.resumed_steps == 1 and [s.id for s in steps if s.resumed] == ["map-0"]
    assert "3 steps (1 reused from an earlier run), 2 run in " in r.to_markdown()
    reused = next(e for e in events if e.phase == "step" and e.step == "map-0")
    assert reused.resumed == 1 and reused.read_rate is None and reused.seconds_left is None
    ran = [e for e in events if e.running == "map-1"]
    assert {"read", "write"} <= {e.phase for e in ran}  # the step that ran reported reading, then writing
    assert all(e.seconds_left is None or e.seconds_left >= 0 for e in events)
    assert events[-1].phase == "done" and events[-1].steps_done == events[-1].steps_total == 3
