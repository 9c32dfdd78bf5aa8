"""Benchmark `localctx serve` against llama-cpp-python's own server (`llama_cpp.server`), side by side.

Both servers run at once on the same model with the same llama.cpp parameters (the ones localctx's
adapter computes: context, extension plan, flash attention, one thread each, CPU repacking choice) and
are driven through the same HTTP API by the `openai` client, one request at a time:
  1. generation tok/s of a long greedy answer, alternated between the servers  goal: ours/theirs >= 0.97
  2. TTFT of turn 2 of a chat over a long document vs turn 1 (which reads it)  goal: turn2/turn1 <= 0.05
  3. TTFT of the same turn 1 after restarting localctx serve (saved KV state)  goal: restart/cold <= 0.05
llama_cpp.server keeps no state across restarts, so its turn 1 after a restart is its cold turn 1.
Needs the bench-serve extra (pip install -e ".[bench-serve]").  Writes the `serve` section of
docs/benchmarks.md.  Usage: nice .venv/bin/python scripts/bench_serve.py [--doc-tokens 16384]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_chat import make_document  # noqa: E402  (the same generated ledger prose as the chat benchmark)

from tests.server.serve_proc import ServeProcess  # noqa: E402

GEN_PROMPT = "Here is a long story about a lighthouse keeper and her brother, told in many chapters.\n\nChapter 1\n\n"
Q1 = "According to the ledger, who catalogued the letters from Kesslow in the year 1707?"
Q2 = "And which good did those letters mostly concern?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolved_settings(model: str, ctx: int) -> Any:
    from localctx.services.runtime import make_plan

    return make_plan(model, {"n_ctx": ctx, "n_threads": 1, "flash_attn": True})


def run_llama_server(model: str, ctx: int, port: int) -> None:
    """Child mode: llama_cpp.server with exactly the llama.cpp parameters localctx's adapter computes."""
    import uvicorn
    from llama_cpp import llama_cpp as ll
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from localctx.engine import llamacpp as adapter

    rp = resolved_settings(model, ctx)
    p, mp = adapter.context_params(rp.settings), adapter.model_params(rp.settings)
    default_mp = ll.llama_model_default_params

    def same_model_params() -> Any:  # AMX CPUs: the adapter turns weight repacking off (see engine/params.py)
        q = default_mp()
        q.use_extra_bufts = mp.use_extra_bufts
        return q

    ll.llama_model_default_params = same_model_params
    ms = ModelSettings(
        model=str(rp.info.path), model_alias="smollm2", n_ctx=p.n_ctx, n_batch=p.n_batch, n_ubatch=p.n_ubatch,
        n_threads=1, n_threads_batch=1, rope_scaling_type=p.rope_scaling_type, rope_freq_base=p.rope_freq_base,
        rope_freq_scale=p.rope_freq_scale, yarn_ext_factor=p.yarn_ext_factor, yarn_attn_factor=p.yarn_attn_factor,
        yarn_beta_fast=p.yarn_beta_fast, yarn_beta_slow=p.yarn_beta_slow, yarn_orig_ctx=p.yarn_orig_ctx,
        type_k=p.type_k, type_v=p.type_v, flash_attn=True, n_gpu_layers=0, seed=0, verbose=False)
    app = create_app(server_settings=ServerSettings(host="127.0.0.1", port=port), model_settings=[ms])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


class LlamaServer:
    def __init__(self, model: str, ctx: int) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, __file__, "--llama-server", "--model", model, "--ctx", str(ctx),
                                      "--port", str(self.port)], stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/v1"
        import urllib.request

        end = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(self.url + "/models", timeout=5).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("llama_cpp.server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def client(url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=url, api_key="bench", max_retries=0, timeout=3600)


def gen_rate(url: str, n: int) -> tuple[float, int]:
    """tok/s between the first and the last streamed piece of a greedy completion."""
    times = []
    for c in client(url).completions.create(model="smollm2", prompt=GEN_PROMPT, max_tokens=n, temperature=0,
                                            stream=True):
        if c.choices and c.choices[0].text:
            times.append(time.perf_counter())
    return ((len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")), len(times)


def ttft(url: str, messages: list[dict[str, str]]) -> tuple[float, str]:
    """Seconds to the first streamed piece of a greedy chat reply, and the reply."""
    t0 = time.perf_counter()
    first, pieces = None, []
    for c in client(url).chat.completions.create(model="smollm2", messages=messages, max_tokens=24, temperature=0,
                                                 stream=True):
        if c.choices and c.choices[0].delta.content:
            first = first or time.perf_counter()
            pieces.append(c.choices[0].delta.content)
    return (first or time.perf_counter()) - t0, "".join(pieces)


def conversation(doc: str, reply: str | None = None) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": f"Answer from this ledger.\n\n{doc}"}, {"role": "user", "content": Q1}]
    if reply is not None:
        msgs += [{"role": "assistant", "content": reply}, {"role": "user", "content": Q2}]
    return msgs


def load1() -> float:
    return os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc-tokens", type=int, default=16384, help="document size in tokens (default 16384)")
    ap.add_argument("--gen-tokens", type=int, default=256, help="length of the generated answer (default 256)")
    ap.add_argument("--rounds", type=int, default=2, help="alternated generation rounds per server (default 2)")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--no-write", action="store_true", help="print the section, do not touch docs/benchmarks.md")
    ap.add_argument("--llama-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ctx", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.llama_server:
        run_llama_server(a.model, a.ctx, a.port)
        return
    t_start = time.perf_counter()
    home = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {**os.environ, "LOCALCTX_HOME": str(home), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    os.environ.update(LOCALCTX_HOME=str(home))  # the tokenizer below plans nothing to keep
    from localctx.services.runtime import load_engine

    with load_engine(a.model, flags={"n_ctx": 512, "n_threads": 1}) as tok:
        doc = make_document(lambda t: tok.tokenize(t, add_bos=False), a.doc_tokens)
    ctx = -(-(a.doc_tokens + 2048) // 1024) * 1024
    flags = [a.model, "-t", "1", "--ctx", str(ctx), "-fa", "on"]
    ours = ServeProcess(flags, env, timeout=300)
    theirs = LlamaServer(a.model, ctx)
    loads: dict[str, float] = {}
    try:
        rates: dict[str, list[float]] = {"ours": [], "theirs": []}
        counts: dict[str, list[int]] = {"ours": [], "theirs": []}
        for _ in range(a.rounds):
            for name, url in (("ours", ours.url), ("theirs", theirs.url)):
                r, n = gen_rate(url, a.gen_tokens)
                rates[name].append(r)
                counts[name].append(n)
        loads["gen"] = load1()
        t1_ours, reply = ttft(ours.url, conversation(doc))
        loads["ours cold"] = load1()
        t2_ours, _ = ttft(ours.url, conversation(doc, reply))
        t1_theirs, reply_t = ttft(theirs.url, conversation(doc))
        loads["theirs cold"] = load1()
        t2_theirs, _ = ttft(theirs.url, conversation(doc, reply_t))
        usage = client(ours.url).chat.completions.create(model="smollm2", messages=conversation(doc), max_tokens=1,
                                                         temperature=0).usage
        n_prompt = usage.prompt_tokens
        assert ours.stop() == 0
        ours = ServeProcess(flags, env, timeout=300)
        t_restart, reply_r = ttft(ours.url, conversation(doc))
        loads["restart"] = load1()
    finally:
        ours.stop()
        theirs.stop()
        shutil.rmtree(home, ignore_errors=True)  # the saved KV states of a long document are large
    g_ours, g_theirs = statistics.median(rates["ours"]), statistics.median(rates["theirs"])
    minutes = (time.perf_counter() - t_start) / 60
    runs = lambda k: ", ".join(f"{x:.1f}" for x in rates[k])  # noqa: E731
    md = f"""## serve: `localctx serve` vs `llama_cpp.server` over HTTP (`scripts/bench_serve.py`)

{a.model}, n_ctx {ctx:,}, document {a.doc_tokens:,} tokens of generated ledger prose in the system message
({n_prompt:,} prompt tokens with the question), greedy, flash attention on, 1 llama.cpp thread on each side,
the same llama.cpp parameters (localctx's adapter computes them for both); both servers up at once, driven one
request at a time through the `openai` client with streaming. CPU, 2 cores shared with other jobs (1-min load
average: {", ".join(f"{k} {v:.1f}" for k, v in loads.items())}); run took {minutes:.1f} min
(`scripts/bench_serve.py --doc-tokens {a.doc_tokens} --gen-tokens {a.gen_tokens} --rounds {a.rounds}`).

| measure | localctx serve | llama_cpp.server |
|---|---|---|
| generation tok/s, {a.gen_tokens}-token greedy completion, alternated x{a.rounds} (runs) | {g_ours:.1f} ({runs("ours")}) | {g_theirs:.1f} ({runs("theirs")}) |
| **generation tok/s ratio** (medians; goal >= 0.97) | **{g_ours / g_theirs:.3f}** | |
| turn-1 TTFT (reads the document) | {t1_ours:.2f} s | {t1_theirs:.2f} s |
| turn-2 TTFT (follow-up question) | {t2_ours:.2f} s | {t2_theirs:.2f} s |
| **turn-2 / turn-1 TTFT** (goal <= 0.05) | **{t2_ours / t1_ours:.4f}** | {t2_theirs / t1_theirs:.4f} |
| turn-1 TTFT after a server restart | {t_restart:.2f} s (saved KV state) | = its cold turn 1 (no saved state) |
| **restart / cold TTFT** (goal <= 0.05) | **{t_restart / t1_ours:.4f}** | 1 |
| first reply, cold vs after restart | {"same" if reply_r == reply else "differs"} | |

TTFT: wall time from sending the request to the first streamed content piece. The document is sent as a
plain system message (what any OpenAI client sends); localctx serve keeps the KV prefix across requests and
saves the KV state of a system message of 512+ tokens, so the restarted server loads it instead of reading
the document again.
"""
    if a.no_write:
        print(md)
        return
    from _benchmd import write_section

    print(md)
    print(f"written to {write_section('serve', md)}")


if __name__ == "__main__":
    main()
