"""The summarize service with the embedded model on a generated long text (one planted fact per section).

Contexts are small (1024) and summary caps low so each run stays within about a minute on this box.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from localctx.core.extract import extract
from localctx.errors import LocalctxError
from localctx.services.summarize import (
    Checkpoint,
    Step,
    SummarizeOptions,
    SummaryCancelled,
    _estimate_merges,
    _pack,
    clean_summary,
    summarize,
)

CITIES = ["Lisbon", "Oslo", "Nairobi", "Lima", "Hanoi", "Quito", "Tallinn", "Accra", "Perth", "Dakar", "Riga",
          "Sofia"]
ITEMS = ["copper bells", "glass lanterns", "wool blankets", "clay pots", "silver spoons", "oak barrels",
         "silk scarves", "iron nails", "paper kites", "brass keys", "cedar boxes", "linen sheets"]
FILLER = ["The market opened early and the streets were busy with carts and traders.",
          "Weather that season was mild, with light rain in the afternoons and cool nights.",
          "Local officials kept careful records of every shipment that passed the gate.",
          "Children watched the boats from the harbour wall while merchants argued over prices.",
          "Several families had lived in the district for generations and knew every lane."]


def make_long_text(n_sections: int = 4, paragraphs: int = 6, seed: int = 1) -> tuple[str, list[str]]:
    """Markdown with one section per city, each carrying one distinct fact in its middle paragraph."""
    rnd = random.Random(seed)
    out, facts = [], []
    for i in range(n_sections):
        fact = f"In {CITIES[i]}, the guild sold exactly {100 + 37 * i} {ITEMS[i]}."
        facts.append(fact)
        out.append(f"## Section {i + 1}: {CITIES[i]}\n")
        for p in range(paragraphs):
            sents = [rnd.choice(FILLER) for _ in range(5)]
            if p == paragraphs // 2:
                sents.insert(2, fact)
            out.append(" ".join(sents) + "\n")
    return "\n".join(out), facts


@pytest.fixture(scope="module")
def engine():
    from localctx.core.settings import RuntimeSettings
    from localctx.services.runtime import load_engine

    e = load_engine("smollm2", RuntimeSettings(n_ctx=1024, n_threads=1))
    yield e
    e.close()


@pytest.fixture()
def long_doc(tmp_path: Path):  # type: ignore[no-untyped-def]
    text, _facts = make_long_text(4)
    p = tmp_path / "harbours.md"
    p.write_text(text)
    return extract(p)


OPTS = SummarizeOptions(map_tokens=40, final_tokens=48, fan_in=2)  # fan-in 2: a tree several levels deep


def _model_steps(result):  # type: ignore[no-untyped-def]
    return [s for lvl in result.levels for s in lvl if s.kind != "carry"]


@pytest.mark.model
def test_map_reduce_fits_every_level_and_resumes_after_an_interruption(engine, long_doc) -> None:
    # run 1: interrupted (as Ctrl-C would) right after the second chunk is summarized
    def interrupt(ev) -> None:  # type: ignore[no-untyped-def]
        if ev.step == "map-1":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        summarize(engine, long_doc, OPTS, on_event=interrupt)

    # run 2: same settings -> the two finished chunks come from the checkpoint
    events = []
    c0 = engine.counters()
    r = summarize(engine, long_doc, OPTS, on_event=events.append)
    c1 = engine.counters()

    assert r.mode == "map-reduce" and r.n_ctx == 1024
    assert len(r.chunks) >= 3
    # chunks partition the file's tokens and respect the budget
    assert r.chunks[0].token_start == 0 and r.chunks[-1].token_end == r.file_tokens
    assert all(a.token_end == b.token_start for a, b in itertools.pairwise(r.chunks))
    assert all(c.n_tokens <= r.chunk_budget for c in r.chunks)
    # the tree: one map step per chunk, every level fits the context, one final summary at the top
    assert [s.id for s in r.levels[0]] == [f"map-{i}" for i in range(len(r.chunks))]
    for step in _model_steps(r):
        assert step.prompt_tokens + step.max_output <= r.n_ctx, step.id
        assert step.output_tokens <= step.max_output
    assert len(r.levels[-1]) == 1 and r.levels[-1][0].kind == "final"
    assert len(r.levels) >= 3  # map, at least one merge level, final
    assert all(len(s.children) <= 2 for lvl in r.levels[1:] for s in lvl)
    assert r.summary == r.levels[-1][0].summary and r.summary.strip()
    for lower, upper in itertools.pairwise(r.levels):
        assert sorted(k for s in upper for k in s.children) == list(range(len(lower)))

    # resume: exactly the two finished chunks were skipped, and llama.cpp evaluated only the rest
    resumed = [s.id for s in _model_steps(r) if s.resumed]
    assert resumed == ["map-0", "map-1"] and r.resumed_steps == 2
    ran = [s for s in _model_steps(r) if not s.resumed]
    skipped_tokens = sum(r.chunks[i].n_tokens for i in (0, 1))
    all_prompts = sum(s.prompt_tokens for s in _model_steps(r))
    evaluated = c1.n_prompt_eval - c0.n_prompt_eval
    assert r.tokens_evaluated == sum(s.evaluated_tokens for s in ran)
    assert abs(evaluated - r.tokens_evaluated) <= len(ran)  # llama.cpp files a few 1-token batches differently
    assert evaluated <= all_prompts - skipped_tokens
    # prefix reuse: the shared instruction is not evaluated again for each chunk
    assert sum(s.evaluated_tokens for s in ran) < sum(s.prompt_tokens for s in ran)
    # events: a plan, monotone progress, the last one says done with all steps
    assert events[0].phase == "plan" and events[-1].phase == "done"
    assert events[-1].steps_done == events[-1].steps_total == len(_model_steps(r))
    done = [e.tokens_done for e in events]
    assert done == sorted(done)

    # and the Markdown names the source and the settings
    md = r.to_markdown()
    assert md.startswith("# Summary of harbours.md\n")
    assert "context 1024" in md and "length medium" in md and f"{len(r.chunks)} chunks" in md


@pytest.mark.model
def test_a_file_that_fits_is_one_pass(engine, tmp_path: Path) -> None:
    p = tmp_path / "short.txt"
    p.write_text("In Oslo, the guild sold exactly 137 glass lanterns. The harbour was busy that spring.\n")
    r = summarize(engine, extract(p), SummarizeOptions(final_tokens=32, focus="the harbour"))
    assert r.mode == "single" and len(r.levels) == 1 and r.levels[0][0].kind == "single"
    assert r.levels[0][0].prompt_tokens + 32 <= r.n_ctx
    assert "focus “the harbour”" in r.to_markdown()


@pytest.mark.model
def test_should_stop_cancels_and_keeps_finished_steps(engine, long_doc) -> None:
    seen = []

    def stop() -> bool:
        return len(seen) >= 1

    with pytest.raises(SummaryCancelled):
        summarize(engine, long_doc, SummarizeOptions(map_tokens=24, final_tokens=24, focus="boats", fresh=True),
                  on_event=lambda ev: seen.append(ev) if ev.step == "map-0" else None, should_stop=stop)
    import json

    from localctx import paths

    saved = [json.loads(f.read_text()) for f in (paths.cache_dir() / "summaries").glob("*.json")]
    assert [sorted(d["steps"]) for d in saved if d["key"]["focus"] == "boats"] == [["map-0"]]


@pytest.mark.model
def test_a_context_too_small_for_the_template_is_exit_2(long_doc) -> None:
    from localctx.core.settings import RuntimeSettings
    from localctx.services.runtime import load_engine

    with load_engine("smollm2", RuntimeSettings(n_ctx=256, n_threads=1)) as small:
        with pytest.raises(LocalctxError) as ei:
            summarize(small, long_doc, SummarizeOptions(length="long"))
    assert ei.value.exit_code == 2
    assert "too small" in ei.value.one_line() and "--ctx" in ei.value.one_line()


def test_unknown_length_is_exit_2() -> None:
    with pytest.raises(LocalctxError) as ei:
        SummarizeOptions(length="huge").caps()
    assert ei.value.exit_code == 2


def test_pack_halves_the_count_and_fits_the_budget() -> None:
    rnd = random.Random(3)
    for n in range(1, 80):
        items = [[0] * rnd.randint(1, 50) for _ in range(n)]
        groups = _pack(items, 100)
        assert [k for g in groups for k in g] == list(range(n))
        assert all(sum(len(items[k]) for k in g) <= 100 for g in groups)
        assert all(len(g) >= 2 for g in groups[:-1])
        assert len(groups) <= max(1, (n + 1) // 2)
        fan2 = _pack(items, 100, 2)
        assert all(len(g) == 2 for g in fan2[:-1]) and len(fan2) == (n + 1) // 2
    assert _estimate_merges(60, 168, 3700, 3500) >= 2
    assert _estimate_merges(4, 48, 900, 900, fan_in=2) == 3  # 4 -> 2 merges -> final


def test_checkpoint_matches_only_its_key_and_fresh_ignores_it() -> None:
    key = {"file": "abc", "length": "short"}
    ck = Checkpoint(key, fresh=False)
    ck.put("map-0", "h0", Step("map-0", "map", 0, [0], summary="first"))
    assert Checkpoint(key, fresh=False).get("map-0", "h0")["summary"] == "first"
    assert Checkpoint(key, fresh=False).get("map-0", "other-input") is None
    assert Checkpoint({**key, "length": "long"}, fresh=False).get("map-0", "h0") is None
    assert Checkpoint(key, fresh=True).get("map-0", "h0") is None
    ck.path.write_text("{torn")
    assert Checkpoint(key, fresh=False).steps == {}


def test_clean_summary_drops_cut_sentences_loops_and_copied_headings() -> None:
    assert clean_summary("## Section 2\n\nOne fact. Two facts here. Half a sen", truncated=True) == \
        "One fact. Two facts here."
    assert clean_summary("The boats left early. The boats left early. Then rain.", truncated=False) == \
        "The boats left early. Then rain."
    assert clean_summary("No end yet", truncated=True) == "No end yet"
    assert clean_summary("Jane wrote. The part of the part of the part of the part of the", truncated=True) == \
        "Jane wrote."
    expected = "They went to Netherfield. Then home."
    assert clean_summary("They went to\nNetherfield. Then home.", truncated=False) == expected
    assert clean_summary("- one item\n- two items", truncated=False) == "- one item\n- two items"
    assert clean_summary("SUMMARIES:\n- ## Section 1: Oslo sold lanterns.\nSummary:\nThe end.", truncated=False) == \
        "- Section 1: Oslo sold lanterns.\nThe end."
