"""Benchmark answer quality: do replies loop, and do they contain the fact asked for?

48 questions over seven generated documents (scripts/answer_set.py: prose, technical text, a table-heavy
price list, minutes, a field guide, a handbook and a long chronicle; 1K-14K tokens, facts at depths from
2% to 97%),
asked of each model under every configuration (sampler settings x prompt layout), side by side in one
run.  Per configuration: loop rate (core.loops: a 6-word phrase three times in one reply, or a
character cycle), grounded rate (the reply contains the expected fact, case-insensitive), median reply
length in tokens, and the time spent generating.

The loop guard is off here (it would cut the loops this counts).  All questions about one document are
asked in a row on one engine, so the document prefix is evaluated once and reused; the
"question before and after" layout puts the question into the system message, so it re-evaluates the
whole document for every question (measurement reference only).  Gemma runs with --swa-full so its
prefix can be reused.

The context is planned per document the way ``ask`` plans it (services.runtime.make_plan: the model's
context-extension plan, the memory gate): the trained context when the document, the prompt around it and
the reply fit in it (what ``ask --file DOC`` uses), else ``--ctx N`` with N just large enough, so only a
document longer than the trained context (SmolLM2:
8,192) runs with the extension localctx would choose for a user.

Usage: nice .venv/bin/python scripts/bench_answers.py --model smollm2 [--configs a,b] [--max-tokens 128]
       [-t 1] [--out answers.json]      (one process per model; each writes its `answers-MODEL` section)
       a quick check: --per-doc 1 --max-tokens 16 --configs dry-remind --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from answer_set import DOCS, PARAPHRASES, Doc, check, render

from localctx.core.conversation import ChatOptions
from localctx.core.excerpt import best_passage
from localctx.core.flags import SAMPLING_FIELDS, SamplingFlags
from localctx.core.loops import loops
from localctx.core.sampling import SamplingSettings
from localctx.core.settings import RuntimeSettings
from localctx.services import prompt
from localctx.services.chat import ChatSession
from localctx.services.prompt import DEFAULT_SYSTEM, DOCS_REMINDER
from localctx.services.runtime import RunPlan

DRY = {"dry_multiplier": 0.8, "dry_base": 1.75, "dry_allowed_length": 2}
#: tokens around the document in the prompt: system message, chat template, reminder, question
PROMPT_ROOM = 256
#: localctx's own reminder layout, restored for every configuration that names none
DEFAULT_REMINDER = prompt.REMINDER_TEMPLATE
DEFAULT_LABEL = prompt.EXCERPT_LABEL


@dataclass(frozen=True)
class Config:
    name: str
    what: str
    sampling: SamplingSettings
    layout: str = "after"
    both: bool = False  # the question also before the documents (breaks the shared prefix)
    reminder: str | None = None  # the reminder layout's user message, {question} in it (None: localctx's)
    label: str | None = None  # the excerpt layout's words before the passage (None: localctx's)


CONFIGS = [
    Config("today", "greedy, repeat penalty 1.1, question after", SamplingSettings(repeat_penalty=1.1)),
    Config("greedy", "greedy, no penalty, question after", SamplingSettings()),
    Config("dry", "greedy + DRY, no repeat penalty, question after", SamplingSettings(**DRY)),
    Config("dry-rp", "greedy + DRY + repeat penalty 1.1, question after", SamplingSettings(repeat_penalty=1.1, **DRY)),
    Config("rp-remind", "greedy, repeat penalty 1.1, reminder", SamplingSettings(repeat_penalty=1.1), "reminder"),
    Config("dry-remind", "greedy + DRY, reminder", SamplingSettings(**DRY), "reminder"),
    Config("dry-rp-remind", "greedy + DRY + repeat penalty 1.1, reminder",
           SamplingSettings(repeat_penalty=1.1, **DRY), "reminder"),
    Config("rp105-dry-remind", "greedy + DRY + repeat penalty 1.05, reminder",
           SamplingSettings(repeat_penalty=1.05, **DRY), "reminder"),
    Config("t03-dry-remind", "temp 0.3, top-k 40, min-p 0.05 + DRY, reminder (seed 0)",
           SamplingSettings(temperature=0.3, top_k=40, min_p=0.05, seed=0, **DRY), "reminder"),
    Config("dry-excerpt", "greedy + DRY, reminder and the best-matching passage restated", SamplingSettings(**DRY),
           "excerpt"),
    Config("dry-excerpt-from", "greedy + DRY, reminder and the passage labelled 'From the documents:'",
           SamplingSettings(**DRY), "excerpt", label="From the documents:"),
    Config("quote", "greedy + DRY, reminder: quote names and numbers", SamplingSettings(**DRY), "reminder",
           reminder="Answer in one sentence, quoting the names and numbers exactly as the documents above "
                    "give them.\n\n{question}"),
    Config("q-first", "greedy + DRY, question then reminder", SamplingSettings(**DRY), "reminder",
           reminder="{question}\n\nAnswer in one or two sentences, using only the documents above."),
    Config("find", "greedy + DRY, reminder: find and copy", SamplingSettings(**DRY), "reminder",
           reminder="Find the answer in the documents above and copy it exactly. Answer in one sentence."
                    "\n\n{question}"),
    Config("qa", "greedy + DRY, question labelled, then the answer form", SamplingSettings(**DRY), "reminder",
           reminder="Question about the documents above: {question}\nAnswer in one short sentence, with the "
                    "exact name or number from the documents."),
    Config("sandwich", "greedy + DRY, reminder before and after the question", SamplingSettings(**DRY),
           "reminder", reminder="Answer in one or two sentences, using only the documents above.\n\n"
                                "{question}\n\nLook the answer up in the documents above; copy names and numbers."),
    Config("q-quote", "greedy + DRY, question then quote reminder", SamplingSettings(**DRY), "reminder",
           reminder="{question}\n\nAnswer in one sentence, quoting the name or number exactly as the "
                    "documents above give it."),
    Config("both-dry", "greedy + DRY, question before and after the documents (no prefix reuse)",
           SamplingSettings(**DRY), "after", both=True),
]


@dataclass
class Tally:
    answers: list[dict] = field(default_factory=list)

    def row(self) -> tuple[float, float, float, float]:
        n = len(self.answers)
        loop = sum(a["loop"] for a in self.answers) / n
        grounded = sum(a["grounded"] for a in self.answers) / n
        med = statistics.median(a["reply_tokens"] for a in self.answers)
        secs = sum(a["seconds"] for a in self.answers)
        return loop, grounded, med, secs


def run_model(model: str, configs: list[Config], docs_dir: Path, args: argparse.Namespace,
              results: dict[tuple[str, str], Tally], log: list[dict], report) -> None:
    """Every question of every document under every configuration; ``report`` after each document
    (a run cut short still leaves its table so far)."""
    max_tokens, threads = args.max_tokens, args.threads
    done_before = {(r["config"], r["doc"], r["question"]): r for r in (json.loads(args.resume.read_text())
                   if args.resume and args.resume.exists() else []) if r["model"] == model}
    from localctx.services.runtime import load_planned

    docs = [d for d in DOCS if args.docs is None or d.name in args.docs.split(",")]
    sizes = doc_sizes(model, docs_dir, threads, docs)
    trained = plan_context(model, 1, threads).extension.n_ctx_train
    plans = {d.name: plan_context(model, max(trained, sizes[d.name] + PROMPT_ROOM + max_tokens), threads)
             for d in docs}
    args.context = "; ".join(sorted({context_line(rp) for rp in plans.values()}))
    print(f"{model}: {args.context}", file=sys.stderr, flush=True)
    engine, loaded = None, None
    try:
        for doc in docs:
            path = docs_dir / doc.name
            if plans[doc.name].settings.n_ctx != loaded:  # a longer document needs a larger context
                if engine is not None:
                    engine.close()
                engine, loaded = None, None
                engine = load_planned(plans[doc.name])
                loaded = plans[doc.name].settings.n_ctx
            for cfg in sorted(configs, key=lambda c: c.both):  # prefix-breaking layouts last
                if cfg.both and sizes[doc.name] > args.both_max:
                    continue
                tally = results.setdefault((model, cfg.name), Tally())
                for fact in doc.facts[:args.per_doc]:
                    key = (cfg.name, doc.name, fact.question)
                    if key in done_before:  # answered by an earlier, interrupted run (--resume)
                        rec = done_before[key]
                        tally.answers.append(rec)
                        log.append(rec)
                        continue
                    system = f"{DEFAULT_SYSTEM}\nQuestion: {fact.question}" if cfg.both else None
                    opts = ChatOptions(reply_tokens=max_tokens, sampling=cfg.sampling, system=system,
                                       sampling_flags=every_flag(cfg.sampling), layout=cfg.layout,
                                       loop_guard=False)
                    prompt.REMINDER_TEMPLATE = cfg.reminder or DEFAULT_REMINDER
                    prompt.EXCERPT_LABEL = cfg.label or DEFAULT_LABEL
                    with ChatSession.open(model, [path], options=opts, engine=engine, persist=False,
                                          use_state_cache=False) as chat:
                        t0 = time.perf_counter()
                        reply = chat.ask(fact.question)
                        secs = time.perf_counter() - t0
                        t = chat.last_turn
                    rec = {"model": model, "config": cfg.name, "doc": doc.name, "question": fact.question,
                           "expected": fact.expected, "depth": fact.depth, "reply": reply,
                           "loop": loops(reply), "grounded": fact.expected.lower() in reply.lower(),
                           "passage_hit": passage_hit(cfg, path, fact.question, fact.expected),
                           "reply_tokens": t.reply_tokens if t else 0, "evaluated": t.evaluated_tokens if t else 0,
                           "seconds": secs}
                    tally.answers.append(rec)
                    log.append(rec)
                    if args.out:  # every reply at once: an interrupted run resumes from here (--resume)
                        args.out.write_text(json.dumps(log, indent=1))
                    print(f"{model} {cfg.name:18} {doc.name:18} {'LOOP ' if rec['loop'] else ''}"
                          f"{'ok  ' if rec['grounded'] else 'miss'} {rec['reply_tokens']:4d} tok {secs:5.1f}s "
                          f"evaluated {rec['evaluated']:5d} {reply[:60]!r}", file=sys.stderr, flush=True)
            report(sizes, last=doc is docs[-1])
    finally:
        if engine is not None:
            engine.close()


def passage_hit(cfg: Config, path: Path, question: str, expected: str) -> bool | None:
    """Did the passage the excerpt layout restates hold the expected fact (None: no passage restated)?"""
    if cfg.layout != "excerpt":
        return None
    return expected.lower() in (best_passage(path.read_text(), question) or "").lower()


def every_flag(sampling: SamplingSettings) -> SamplingFlags:
    """The configuration as if every sampling flag were given, so that sampling saved for the model
    (``plan MODEL --temp 0.2 --save``) cannot change what a configuration measures."""
    return SamplingFlags(**{flag: getattr(sampling, name) for flag, name in SAMPLING_FIELDS.items()})


def doc_sizes(model: str, docs_dir: Path, threads: int, docs: list[Doc]) -> dict[str, int]:
    """Each document's length in the model's own tokens (a small context: only the vocabulary is used)."""
    from localctx.services.runtime import load_engine

    probe = load_engine(model, RuntimeSettings(n_ctx=512, n_threads=threads))
    try:
        return {d.name: len(probe.tokenize((docs_dir / d.name).read_text(), add_bos=False)) for d in docs}
    finally:
        probe.close()


def plan_context(model: str, need: int, threads: int) -> RunPlan:
    """The plan ``ask --ctx N`` would make for ``need`` tokens (rounded up to 1,024): the extension a
    user would get past the trained context, and the memory gate.  Complete settings, so nothing saved
    for the model (``plan --save``) changes the benchmark; gemma keeps its full sliding-window cache so
    the document prefix can be reused."""
    from localctx.services.runtime import make_plan

    n_ctx = -(-need // 1024) * 1024
    return make_plan(model, settings=RuntimeSettings(n_ctx=n_ctx, n_threads=threads, swa_full="gemma" in model))


def context_line(rp: RunPlan) -> str:
    ext = rp.extension
    how = (f"extended {ext.method} x{ext.factor:g} from {ext.n_ctx_train:,}"
           if ext.method != "none" and ext.factor > 1 else f"within the trained {ext.n_ctx_train:,}")
    return f"n_ctx {rp.settings.n_ctx:,} ({how})"


def table(models: list[str], configs: list[Config], results: dict[tuple[str, str], Tally]) -> list[str]:
    lines = ["| model | configuration | loop rate | grounded rate | median reply (tokens) | time (s) |",
             "|---|---|---|---|---|---|"]
    for m in models:
        for c in configs:
            tally = results.get((m, c.name))
            if not tally or not tally.answers:
                continue
            loop, grounded, med, secs = tally.row()
            lines.append(f"| {m} | `{c.name}`: {c.what} | {loop:.0%} ({sum(a['loop'] for a in tally.answers)}"
                         f"/{len(tally.answers)}) | {grounded:.0%} | {med:.0f} | {secs:.0f} |")
    return lines


def markdown(model: str, configs: list[Config], results: dict[tuple[str, str], Tally], sizes: dict[str, int],
             args: argparse.Namespace, wall: float, load0: float, done: bool, asked: int | None = None) -> str:
    n_q = sum(len(d.facts) for d in DOCS)
    if asked is None:
        asked = len(results[(model, configs[0].name)].answers) if (model, configs[0].name) in results else 0
    sizes_text = ", ".join(f"{name} {n:,}" for name, n in sizes.items()) or "1.0K-14K by smollm2's tokenizer"
    state = "" if done else f" **Partial: {asked} of {n_q} questions so far.**"
    return "\n".join([
        f"## Answers on {model}: loops and grounding (`scripts/bench_answers.py`)", "",
        f"{n_q} questions over {len(DOCS)} generated documents (scripts/answer_set.py; tokens: {sizes_text}), "
        f"expected facts at depths 2%-97%.{state} Replies capped at {args.max_tokens} tokens (loops show in long "
        f"replies; a longer cap can only add loops), -t {args.threads}, {args.context}, "
        "planned per document as `ask` plans it "
        "(gemma with --swa-full so the document prefix is reused), loop guard off. Loop: a 6-word phrase "
        "three times in a reply (core.loops). "
        "Grounded: the reply contains the expected fact (case-insensitive). Time: seconds spent on the "
        "questions, the documents evaluated once per document (KV prefix reused across questions and "
        f"configurations), except `both-dry`, which re-evaluates the document for every question and is "
        f"therefore run only on the documents up to {args.both_max:,} tokens (its n says how many). Layouts: "
        "*question after* = the bare question after the documents (before this change); *reminder* = "
        f"\"{args.reminder or DOCS_REMINDER}\" then the question; *excerpt* = the reminder, "
        f"\"{DEFAULT_LABEL}\" and the passage of the document that shares most of the question's words "
        "(core.excerpt, at most 200 characters, none when too few words match), then the question; all keep "
        "the document prefix shared across questions.", "",
        *table([model], configs, results), "",
        *passage_lines(model, configs, results),
        *reminder_lines(configs),
        f"Run: {wall / 60:.1f} min wall on a shared 2-core machine (load average {load0:.1f}, several other jobs "
        "running); the time column compares configurations within one run only; the first configuration's "
        "first question also loads the model and evaluates the document." if wall else
        f"Written from the run's progress lines (--from-log) on a shared 2-core machine (load average 3-15 "
        f"during the run); the first {asked} questions in document order, answered under every configuration "
        "listed; the time column compares configurations within this run only (the first configuration's first "
        "question also loaded the model and evaluated the document).",
    ])


def passage_lines(model: str, configs: list[Config], results: dict[tuple[str, str], Tally]) -> list[str]:
    """How often the restated passage held the expected fact: what the excerpt layout's grounding rests on."""
    out = []
    for c in configs:
        tally = results.get((model, c.name))
        if c.layout != "excerpt" or not tally or not tally.answers:
            continue
        hits = [a.get("passage_hit") for a in tally.answers]
        out.append(f"`{c.name}`: the restated passage held the expected fact for {sum(bool(h) for h in hits)} of "
                   f"{len(hits)} questions.")
    if not out:
        return []
    right, none, wrong = paraphrase_passages()
    out.append(f"The questions of this set reuse words of the sentences that hold their facts, so a lexical match "
               f"finds them more easily than a question asked in other words: for {right + none + wrong} such "
               f"paraphrases (answer_set.PARAPHRASES) the passage holds the fact for {right}, none is restated "
               f"for {none} (the plain reminder then, as in `dry-remind`) and a wrong one for {wrong}.")
    return [" ".join(out), ""]


def paraphrase_passages() -> tuple[int, int, int]:
    """(right, none, wrong): the passages core.excerpt restates for the paraphrased questions."""
    right = none = wrong = 0
    for doc in DOCS:
        text = render(doc)
        for question, expected in PARAPHRASES.get(doc.name, []):
            passage = best_passage(text, question)
            if passage is None:
                none += 1
            elif expected.lower() in passage.lower():
                right += 1
            else:
                wrong += 1
    return right, none, wrong


def reminder_lines(configs: list[Config]) -> list[str]:
    """The user message of each configuration with a reminder of its own (the question where {question} is)."""
    named = [c for c in configs if c.reminder]
    if not named:
        return []
    def one_line(text: str) -> str:
        return " / ".join(line for line in text.splitlines() if line)

    shown = "; ".join(f"`{c.name}`: \"{one_line(c.reminder or '')}\"" for c in named)
    return [f"Reminder wordings (\" / \" is a line break): {shown}.", ""]


_LINE = re.compile(r"^(?P<model>\S+) (?P<config>\S+)\s+(?P<doc>\S+)\s+(?P<loop>LOOP )?(?P<ok>ok|miss)\s+"
                   r"(?P<tok>\d+) tok\s+(?P<secs>[\d.]+)s ")


def from_log(path: Path) -> tuple[str, dict[tuple[str, str], Tally]]:
    """Tallies rebuilt from a run's progress lines (one per reply; written as each reply ends), for a run
    cut short: only the questions answered under every configuration are counted, side by side."""
    rows: dict[tuple[str, str], dict[tuple[str, int], dict]] = {}
    model = ""
    for line in path.read_text().splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        model = m["model"]
        per = rows.setdefault((m["model"], m["config"]), {})
        n = sum(1 for d, _ in per if d == m["doc"])
        per[(m["doc"], n)] = {"loop": bool(m["loop"]), "grounded": m["ok"] == "ok", "reply_tokens": int(m["tok"]),
                              "seconds": float(m["secs"])}
    plain = [k for k in rows if not next(c for c in CONFIGS if c.name == k[1]).both]
    common = set.intersection(*(set(rows[k]) for k in plain)) if plain else set()
    results = {}
    for k, per in rows.items():
        keep = per if k not in plain else {q: v for q, v in per.items() if q in common}
        results[k] = Tally(list(keep.values()))
    return model, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2", help="smollm2 or gemma-3-270m (run one process per model)")
    ap.add_argument("--configs", default=",".join(c.name for c in CONFIGS))
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--both-max", type=int, default=1600,
                    help="run the prefix-breaking layout only on documents up to this many tokens")
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--per-doc", type=int, default=None, help="ask only the first N questions of each document "
                    "(a quick check; the table then says partial)")
    ap.add_argument("--docs", default=None, help="only these documents (comma-separated names; a quick check)")
    ap.add_argument("--out", type=Path, default=None, help="also write every reply as JSON here")
    ap.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--resume", type=Path, default=None,
                    help="reuse the replies an interrupted run wrote with --out (same model, cap and threads)")
    ap.add_argument("--from-log", type=Path, default=None,
                    help="write the table from the progress lines (stderr) of a run that was cut short")
    ap.add_argument("--section", default=None, help="with --from-log: the docs/benchmarks.md section to write")
    ap.add_argument("--reminder", default=None, help="with --from-log: the reminder text that run used")
    args = ap.parse_args()
    check()
    if args.from_log:
        args.context = "the context that run planned"
        model, results = from_log(args.from_log)
        configs = [c for c in CONFIGS if (model, c.name) in results]
        n = len(results[(model, configs[0].name)].answers)
        print("\n".join(table([model], configs, results)))
        if not args.no_write:
            from _benchmd import write_section

            n_q = sum(len(d.facts) for d in DOCS)
            md = markdown(model, configs, results, {}, args, 0.0, os.getloadavg()[0], done=n >= n_q, asked=n)
            write_section(args.section or f"answers-{model}", md)
        return
    wanted = [c.strip() for c in args.configs.split(",")]
    configs = [c for c in CONFIGS if c.name in wanted]
    if len(configs) != len(wanted):
        sys.exit(f"unknown configuration in {args.configs}; known: {', '.join(c.name for c in CONFIGS)}")
    unknown = set(args.docs.split(",")) - {d.name for d in DOCS} if args.docs else set()
    if unknown:
        sys.exit(f"unknown document {', '.join(sorted(unknown))}; known: {', '.join(d.name for d in DOCS)}")
    results: dict[tuple[str, str], Tally] = {}
    log: list[dict] = []
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]

    def report(sizes: dict[str, int], last: bool) -> None:
        if args.out:
            args.out.write_text(json.dumps(log, indent=1))
        done = last and args.per_doc is None and args.docs is None
        md = markdown(args.model, configs, results, sizes, args, time.perf_counter() - t0, load0, done)
        if last:
            print("\n".join(table([args.model], configs, results)))
        if not args.no_write:
            from _benchmd import write_section

            write_section(f"answers-{args.model}", md)

    with tempfile.TemporaryDirectory() as tmp:
        for doc in DOCS:
            (Path(tmp) / doc.name).write_text(render(doc))
        run_model(args.model, configs, Path(tmp), args, results, log, report)


if __name__ == "__main__":
    main()
