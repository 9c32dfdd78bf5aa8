"""Run as a child process by test_rpc_server.py: load SmolLM2 through the load gate with the given
flags, generate greedily, and print the reply with llama.cpp's per-device buffer sizes as JSON.
(A child, because RPC devices stay registered in a process; a test run must not keep them.)"""

from __future__ import annotations

import json
import sys

from localctx.core.flags import RuntimeFlags
from localctx.services.runtime import load_engine

PROMPT = "The three largest cities of France are"


def main() -> None:
    rpc = sys.argv[1] or None
    flags = RuntimeFlags(ctx=512, threads=1, seed=0, gpu_layers=int(sys.argv[2]), no_mmap=True, rpc=rpc,
                         tensor_split=sys.argv[3] or None if len(sys.argv) > 3 else None,
                         flash_attn=sys.argv[4] if len(sys.argv) > 4 else None)
    with load_engine("smollm2", flags=flags) as eng:
        eng.ingest(eng.tokenize(PROMPT, add_bos=True))
        text = "".join(eng.stream(max_tokens=32))
        a = eng.report.applied
        print(json.dumps({"text": text, "weights": a.get("model_buffers", {}), "kv": a.get("kv_buffers", {}),
                          "compute": eng.report.compute_bytes}))


if __name__ == "__main__":
    main()
