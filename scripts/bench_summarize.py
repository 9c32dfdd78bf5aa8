"""Benchmark `localctx summarize` on a public-domain novel far longer than the context.

Pride and Prejudice (tests/data/pride_and_prejudice.txt, ~168K SmolLM2 tokens) with a 4K context on
the embedded SmolLM2-135M.  Measured side by side in one run:
- tokens evaluated ÷ file tokens (the cost of map-reduce over reading the book once; goal <= 1.3),
  from our own tally AND from llama.cpp's perf counters;
- wall time, prompt and generation tokens/s;
- how many of 15 well-known facts of the novel (names, places, plot points; keyword-matched) survive
  into the map summaries and into the final summary: a 135M model is weak, so this is a baseline.
The run is checkpointed like any summarize run: re-running after an interruption resumes (the ratio
then counts only the tokens evaluated in the last run; `--fresh` for a clean measurement).

    nice python scripts/bench_summarize.py [--ctx 4096] [--length medium] [--threads 1] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOOK = ROOT / "tests" / "data" / "pride_and_prejudice.txt"
#: (fact, any of these keywords, case-insensitive) — what any summary of the novel should mention
KNOWN_FACTS: list[tuple[str, tuple[str, ...]]] = [
    ("Elizabeth Bennet is the heroine", ("elizabeth", "lizzy")),
    ("Mr. Darcy", ("darcy",)),
    ("Mr. Bingley takes Netherfield", ("bingley",)),
    ("Jane Bennet, the eldest sister", ("jane",)),
    ("Mr. Wickham", ("wickham",)),
    ("Lydia elopes", ("lydia",)),
    ("Mr. Collins, the cousin who will inherit", ("collins",)),
    ("Charlotte Lucas marries Collins", ("charlotte",)),
    ("Lady Catherine de Bourgh", ("catherine", "de bourgh")),
    ("Pemberley, Darcy's estate", ("pemberley",)),
    ("Netherfield", ("netherfield",)),
    ("Longbourn, the Bennet home", ("longbourn",)),
    ("Georgiana Darcy", ("georgiana",)),
    ("the Gardiners", ("gardiner",)),
    ("a proposal / marriage", ("propos", "marr")),
]


def facts_in(text: str) -> list[bool]:
    low = text.lower()
    return [any(k in low for k in keys) for _, keys in KNOWN_FACTS]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--length", default="medium", choices=["short", "medium", "long"])
    ap.add_argument("--threads", type=int, default=1,
                    help="1 by default: on a shared 2-core box ggml's spinning threads make 2 far slower")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--json-out", type=Path, default=Path("/tmp/bench_summarize.json"))
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--report", action="store_true",
                    help="generate nothing: report what the checkpoint of an unfinished run already measured")
    ap.add_argument("--focus", default=None, help="pass --focus to the summary (with --planted)")
    ap.add_argument("--planted", type=int, metavar="N",
                    help="instead of the book: a generated text of N sections, each with one planted fact")
    args = ap.parse_args()
    if args.report:
        return report(args)
    if args.planted:
        return planted(args)

    from localctx.core.extract import extract
    from localctx.core.settings import RuntimeSettings
    from localctx.services.runtime import load_engine
    from localctx.services.summarize import SummarizeOptions, summarize

    t_start = time.perf_counter()
    engine = load_engine("smollm2", RuntimeSettings(n_ctx=args.ctx, n_threads=args.threads))
    doc = extract(BOOK)
    c0 = engine.counters()
    last = [0.0]

    def on_event(ev) -> None:  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        if ev.phase in ("plan", "step", "done") or now - last[0] > 30:  # reading/writing: every 30 s
            last[0] = now
            print(f"[{now - t_start:7.0f}s] {ev.phase:5} {ev.step:14} {ev.steps_done}/{ev.steps_total} steps "
                  f"{ev.tokens_done:,}/{ev.tokens_total:,} tokens (resumed {ev.resumed})", flush=True)

    r = summarize(engine, doc, SummarizeOptions(length=args.length, fresh=args.fresh), on_event=on_event)
    c1 = engine.counters()
    wall = time.perf_counter() - t_start
    engine.close()

    steps = [s for lvl in r.levels for s in lvl if s.kind != "carry"]
    all_eval = sum(s.evaluated_tokens for s in steps)
    map_steps = r.levels[0]
    map_text = "\n".join(s.summary for s in map_steps)
    final_hits, map_hits = facts_in(r.summary), facts_in(map_text)
    n_prompt = c1.n_prompt_eval - c0.n_prompt_eval
    n_gen = c1.n_gen - c0.n_gen
    res = {
        "book": BOOK.name, "file_tokens": r.file_tokens, "n_ctx": r.n_ctx, "length": r.length,
        "chunk_budget": r.chunk_budget, "chunks": len(r.chunks), "levels": [len(lvl) for lvl in r.levels],
        "resumed_steps": r.resumed_steps,
        # over every step of the tree, resumed ones included (their counts come from the checkpoint),
        # so a run finished across several sessions still measures the whole book
        "tokens_evaluated": all_eval, "ratio": all_eval / r.file_tokens,
        "tokens_evaluated_this_run": r.tokens_evaluated,
        "llama_prompt_eval": n_prompt, "llama_ratio": n_prompt / r.file_tokens, "llama_gen": n_gen,
        "tokens_generated": sum(s.output_tokens for s in steps),
        "prompt_tok_s": (n_prompt / (c1.t_prompt_ms - c0.t_prompt_ms) * 1000
                         if c1.t_prompt_ms > c0.t_prompt_ms else None),
        "gen_tok_s": n_gen / (c1.t_gen_ms - c0.t_gen_ms) * 1000 if c1.t_gen_ms > c0.t_gen_ms else None,
        "wall_s": wall, "summarize_s": sum(s.seconds for s in steps),
        "facts_final": sum(final_hits), "facts_map": sum(map_hits), "facts_total": len(KNOWN_FACTS),
        "facts_final_list": [f for (f, _), hit in zip(KNOWN_FACTS, final_hits, strict=True) if hit],
        "summary": r.summary,
    }
    args.json_out.write_text(json.dumps({"bench": res, "tree": r.to_json()}, indent=1, default=str))
    print(json.dumps({k: v for k, v in res.items() if k != "summary"}, indent=1))
    print("\n" + r.to_markdown())
    if not args.no_doc:
        from scripts._benchmd import write_section

        write_section("summarize", _markdown(res, args))
    return 0


def planted(args: argparse.Namespace) -> int:
    """A complete run on a generated text whose sections each carry one distinct fact: the measured
    ratio of a finished map-reduce tree, and how many planted facts (city + number) survive."""
    import re
    import tempfile

    from localctx.core.extract import extract
    from localctx.core.settings import RuntimeSettings
    from localctx.services.runtime import load_engine
    from localctx.services.summarize import SummarizeOptions, summarize
    from tests.services.test_summarize import CITIES, make_long_text

    text, facts = make_long_text(args.planted)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "planted.md"
        p.write_text(text)
        engine = load_engine("smollm2", RuntimeSettings(n_ctx=args.ctx, n_threads=args.threads))
        c0 = engine.counters()
        r = summarize(engine, extract(p), SummarizeOptions(length=args.length, focus=args.focus, fresh=args.fresh))
        c1 = engine.counters()
        engine.close()
    nums = [re.search(r"exactly (\d+)", f).group(1) for f in facts]  # type: ignore[union-attr]

    def survived(t: str) -> int:
        return sum(1 for city, n in zip(CITIES, nums, strict=True) if city in t and n in t)

    maps = "\n".join(s.summary for s in r.levels[0])
    res = {"sections": args.planted, "file_tokens": r.file_tokens, "n_ctx": r.n_ctx, "chunks": len(r.chunks),
           "levels": [len(lvl) for lvl in r.levels], "tokens_evaluated": r.tokens_evaluated,
           "ratio": r.tokens_evaluated / r.file_tokens,
           "llama_ratio": (c1.n_prompt_eval - c0.n_prompt_eval) / r.file_tokens,
           "generated": r.tokens_generated, "wall_s": time.perf_counter() - t0,
           "facts_map": survived(maps), "facts_final": survived(r.summary), "facts": len(facts),
           "summary": r.summary}
    print(json.dumps(res, indent=1))
    if not args.no_doc:
        from scripts._benchmd import write_section

        focus = f' --focus "{args.focus}"' if args.focus else ""
        write_section("summarize-planted" + ("-focus" if args.focus else ""), f"""## summarize: planted facts, a complete run ({res['file_tokens']:,} tokens, {res['n_ctx']:,} context{', with --focus' if args.focus else ''})

`nice python scripts/bench_summarize.py --planted {args.planted} --ctx {args.ctx} --length {args.length} --threads {args.threads}{focus}`:
a generated Markdown text of {args.planted} sections, each carrying one fact ("In CITY, the guild sold exactly N
ITEMS."), summarized by SmolLM2-135M on the shared 2-core machine. Took {res['wall_s'] / 60:.1f} min.

| measure | value |
| --- | --- |
| chunks → steps per level | {res['chunks']} → {' → '.join(map(str, res['levels']))} |
| tokens evaluated ÷ file tokens (ours / llama.cpp's counter) | **{res['ratio']:.3f}** / {res['llama_ratio']:.3f} |
| tokens generated | {res['generated']:,} |
| planted facts (city and number) in the chunk summaries | {res['facts_map']}/{res['facts']} |
| planted facts in the final summary | {res['facts_final']}/{res['facts']} |

Final summary:

> {' '.join(res['summary'].split())}
""")
    return 0


def report(args: argparse.Namespace) -> int:
    """Numbers from the finished steps of an interrupted run (re-run without --report to resume it)."""
    from localctx.core.extract import extract
    from localctx.core.settings import RuntimeSettings
    from localctx.services.runtime import load_engine
    from localctx.services.summarize import SummarizeOptions, plan_summary

    engine = load_engine("smollm2", RuntimeSettings(n_ctx=args.ctx, n_threads=args.threads))
    plan = plan_summary(engine, extract(BOOK), SummarizeOptions(length=args.length))
    engine.close()
    done = [c for c in plan.chunks if f"map-{c.index}" in plan.finished]
    if not done:
        print("no finished steps in", plan.checkpoint)
        return 1
    recs = [plan.finished[f"map-{c.index}"] for c in done]
    chunk_tokens = sum(c.n_tokens for c in done)
    evaluated = sum(r["evaluated_tokens"] for r in recs)
    prompts = sum(r["prompt_tokens"] for r in recs)
    out_tokens = sum(r["output_tokens"] for r in recs)
    secs = sum(r["seconds"] for r in recs)
    # projection for the whole book: the measured map cost per chunk token for the rest, plus the merge
    # inputs (every chunk summary is read once more per merge level; the final prompt reads them too)
    per_tok = evaluated / chunk_tokens
    avg_out = out_tokens / len(done)
    merge_inputs = len(plan.chunks) * (avg_out + 4) * 2
    projected = (per_tok * plan.file_tokens + merge_inputs) / plan.file_tokens
    hits = facts_in("\n".join(r["summary"] for r in recs))
    res = {"chunks_done": len(done), "chunks": len(plan.chunks), "chunk_tokens_done": chunk_tokens,
           "file_tokens": plan.file_tokens, "chunk_budget": plan.chunk_budget, "map_evaluated": evaluated,
           "map_prompts": prompts, "map_ratio": evaluated / chunk_tokens, "projected_ratio": projected,
           "map_output_tokens": out_tokens, "map_seconds": secs, "tok_s": (evaluated + out_tokens) / secs,
           "facts_map_done": sum(hits), "facts_total": len(KNOWN_FACTS), "checkpoint": plan.checkpoint}
    print(json.dumps(res, indent=1))
    if not args.no_doc:
        from scripts._benchmd import write_section

        write_section("summarize", _partial_markdown(res, args))
    return 0


def _partial_markdown(res: dict, args: argparse.Namespace) -> str:  # type: ignore[type-arg]
    return f"""## summarize: a {res['file_tokens']:,}-token novel through a {args.ctx:,}-token context (PARTIAL)

`nice python scripts/bench_summarize.py --ctx {args.ctx} --length {args.length} --threads {args.threads}` on
Pride and Prejudice (public domain) with the embedded SmolLM2-135M-Instruct Q4_1, on the shared 2-core
machine with 5 other jobs (load average ~10): llama.cpp ran at ~{res['tok_s']:.0f} tokens/s, so the run did
not finish in the session. These numbers come from its checkpoint (`--report`); running the same
command again resumes from the {res['chunks_done']} finished chunks and writes the full table.

| measure | value |
| --- | --- |
| file tokens / chunk budget / chunks | {res['file_tokens']:,} / {res['chunk_budget']:,} / {res['chunks']} |
| chunks summarized so far | {res['chunks_done']} ({res['chunk_tokens_done']:,} tokens) |
| map step: tokens evaluated ÷ chunk tokens (measured) | **{res['map_ratio']:.3f}** |
| whole run, projected (map cost as measured + each summary read at 2 merge levels) | {res['projected_ratio']:.3f} (goal ≤ 1.3) |
| tokens generated so far | {res['map_output_tokens']:,} |
| time for those steps | {res['map_seconds'] / 60:.1f} min |
| known facts (of {res['facts_total']}) in the finished chunk summaries | {res['facts_map_done']} |
"""


def _markdown(res: dict, args: argparse.Namespace) -> str:  # type: ignore[type-arg]
    pct = lambda a, b: f"{100 * a / b:.0f}%"  # noqa: E731
    return f"""## summarize: a {res['file_tokens']:,}-token novel through a {res['n_ctx']:,}-token context

`nice python scripts/bench_summarize.py --ctx {args.ctx} --length {args.length} --threads {args.threads}`
on {res['book']} (public domain) with the embedded SmolLM2-135M-Instruct Q4_1, one run on the shared
2-core machine (other jobs running). Took {res['wall_s'] / 60:.1f} min in all.

| measure | value |
| --- | --- |
| file tokens | {res['file_tokens']:,} |
| chunks (budget {res['chunk_budget']:,} tokens) → steps per level | {res['chunks']} → {' → '.join(map(str, res['levels']))} |
| tokens evaluated (our tally) ÷ file tokens | **{res['ratio']:.3f}** (goal ≤ 1.3) |
| llama.cpp prompt tokens evaluated ÷ file tokens (this run only) | {res['llama_ratio']:.3f} |
| tokens generated | {res['tokens_generated']:,} |
| prompt / generation speed | {res['prompt_tok_s'] or 0:.0f} / {res['gen_tok_s'] or 0:.1f} tok/s |
| model time, all steps (summed over sessions if resumed) | {res['summarize_s'] / 60:.1f} min |
| known facts in the chunk summaries | {res['facts_map']}/{res['facts_total']} ({pct(res['facts_map'], res['facts_total'])}) |
| known facts in the final summary | {res['facts_final']}/{res['facts_total']} ({pct(res['facts_final'], res['facts_total'])}) |
| steps resumed from a checkpoint | {res['resumed_steps']} |

Facts are keyword matches of 15 well-known names/places/plot points (list in the script): a
generous test; a 135M model is weak, so read this as the baseline a larger model should beat.
Final summary:

> {' '.join(res['summary'].split())}
"""


if __name__ == "__main__":
    raise SystemExit(main())
