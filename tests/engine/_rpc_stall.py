"""Run as a child by test_rpc_hostile.py: load SmolLM2 onto the RPC server given, with the load-stall
limit shortened to the seconds given (a real limit is minutes), and print the reply if the load ends."""

from __future__ import annotations

import sys

from localctx.core.flags import RuntimeFlags
from localctx.engine import rpc
from localctx.services.runtime import load_engine


def main() -> None:
    rpc.LOAD_STALL_S = float(sys.argv[2])
    flags = RuntimeFlags(ctx=512, threads=1, gpu_layers=99, rpc=sys.argv[1])
    with load_engine("smollm2", flags=flags) as eng:
        print(eng.n_ctx)


if __name__ == "__main__":
    main()
