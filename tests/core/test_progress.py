"""The arithmetic of progress reports: speeds that leave out work done before measuring began, times left
that add kinds of work of different speeds, and the one-line text shown off a terminal."""

from __future__ import annotations

import pytest

from localctx.core.progress import Meter, Stopwatch, Throttle, progress_line, seconds_left, time_left_text


def test_a_meter_measures_only_the_work_it_saw_being_done() -> None:
    m = Meter(started=100.0)
    m.skip(6000)  # resumed: arrives done, instantly
    m.update(6000, 8000, now=100.2)
    assert m.rate() is None and m.seconds_left() is None  # nothing measured yet, and no fake speed
    m.update(6400, 8000, now=110.0)
    assert m.rate() == pytest.approx(40.0)  # 400 tokens in 10 s, not 6,400 in 10 s
    assert m.seconds_left() == pytest.approx(40.0)  # 1,600 tokens at 40 tok/s


def test_a_meter_ignores_a_first_instant() -> None:
    m = Meter(started=0.0)
    m.update(512, 2048, now=0.1)
    assert m.rate() is None  # one batch in 0.1 s says nothing yet
    m.update(1024, 2048, now=10.0)
    assert m.rate() == pytest.approx(102.4) and m.seconds_left() == pytest.approx(10.0)


def test_time_left_adds_kinds_of_work_and_is_unknown_until_each_has_a_speed() -> None:
    reading, writing = Stopwatch(), Stopwatch()
    reading.add(700, 10.0)  # 70 tok/s
    assert seconds_left([(1400, reading.rate()), (300, writing.rate())]) is None  # no write speed yet
    writing.add(10, 0.5)
    assert writing.rate(20, 1.5) == pytest.approx(15.0)  # the running piece counts: 30 tokens in 2 s
    assert seconds_left([(1400, reading.rate()), (300, writing.rate(20, 1.5))]) == pytest.approx(20 + 20)
    assert seconds_left([(0, None), (150, 15.0)]) == pytest.approx(10.0)  # no work left needs no speed


@pytest.mark.parametrize(("seconds", "text"), [
    (None, ""), (0.2, ""), (1.4, "~1 s left"), (40, "~40 s left"), (59.4, "~59 s left"), (95, "~2 min left"),
    (3900, "~1 h 5 min left"),
])
def test_time_left_reads_like_a_person_would_say_it(seconds: float | None, text: str) -> None:
    assert time_left_text(seconds) == text


def test_a_progress_line_is_plain_text_in_llama_cpps_manner() -> None:
    assert progress_line("reading", 2048, 6963, rate=41.2, left=120) == \
        "reading: 2,048/6,963 tokens, 41 tok/s, ~2 min left"
    assert progress_line("summarize a.md", 57, 384, detail="step 3/9 writing", rate=4.25, left=None) == \
        "summarize a.md: step 3/9 writing, 57/384 tokens, 4.2 tok/s"
    assert progress_line("eval", 3, None, "windows") == "eval: 3 windows"
    assert progress_line("loading") == "loading"


def test_a_throttle_lets_the_first_line_through_then_one_every_few_seconds() -> None:
    t = Throttle(every=3.0)
    assert [t.due(now) for now in (0.0, 1.0, 2.9, 3.0, 4.0, 6.5)] == [True, False, False, True, False, True]
