#!/usr/bin/env python3
"""Fuzz localctx's GGUF reading with >= 1,000 mutated/truncated copies of the real models.

    .venv/bin/python scripts/fuzz_gguf.py [--cases 1000] [--seed 7]

Every case must either read or fail with a one-line GGUFError naming the file (tests/fuzzing.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localctx.models.catalog import _gemma3_path, _smollm2_path  # noqa: E402
from tests.fuzzing import fuzz  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=1000, help="cases per model")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        for name, locate in (("smollm2", _smollm2_path), ("gemma-3-270m", _gemma3_path)):
            t0 = time.perf_counter()
            s = fuzz(locate(), Path(d), args.cases, args.seed)
            dt = time.perf_counter() - t0
            print(f"{name}: {s.cases} cases in {dt:.1f} s: {s.rejected} rejected cleanly, {s.accepted} still valid, "
                  f"{len(s.failures)} contract failures")
            print("  rejections by first word of the problem:", dict(s.problems.most_common(8)))
            for f in s.failures[:20]:
                print("  FAIL", f)
            bad += len(s.failures)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
