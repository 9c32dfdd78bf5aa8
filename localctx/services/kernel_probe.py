"""The kernel probe's store: what one multiply-add costs per weight type on this machine with these
settings, measured once per (machine, settings) group and kept beside its calibrations, so a forecast
for a model of another quant type can be scaled from a calibrated neighbour (services.forecast)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localctx.core import forecast as fc
from localctx.core.settings import RuntimeSettings
from localctx.errors import RuntimeLoadError
from localctx.services.forecast import (
    FORMAT,
    KERNELS_FILE,
    group_dir,
    machine_identity,
    read_kernels,
    speed_settings,
    write_record,
)


def kernel_costs(timings: Sequence[Any], clock: str = "counters") -> fc.KernelCosts:
    """ms per multiply-add by kind and type from the probe's timings."""
    per: dict[str, dict[str, float]] = {}
    for t in timings:
        cost = t.ms_per_mac(clock)
        if cost > 0:
            per.setdefault(t.kind, {})[t.type_name] = cost
    return fc.KernelCosts(per)


def has_kernels(settings: RuntimeSettings) -> bool:
    return read_kernels(group_dir(speed_settings(settings))) is not None


def probe_kernels(settings: RuntimeSettings, progress: Any = None, types: Sequence[str] | None = None
                  ) -> tuple[Path, fc.KernelCosts]:
    """Run the kernel probe with these settings and store it for their (machine, settings) group:
    what scales a calibration to models of other quant types (``types``: default all the probe's)."""
    import dataclasses
    import tempfile

    from localctx.engine.kernel_probe import run_probe

    try:
        with tempfile.TemporaryDirectory(prefix="localctx-probe-") as tmp:
            timings = run_probe(settings, Path(tmp), types, progress=progress)
    except OSError as exc:  # a full or read-only temp dir: the probe models could not be written
        raise RuntimeLoadError(f"the kernel probe could not write its models: {exc.strerror or exc}",
                               "free some space in the temp dir (TMPDIR)") from None
    costs = kernel_costs(timings)
    if not costs.per_mac:
        raise RuntimeLoadError("the kernel probe measured no weight type (llama.cpp could make or run none)")
    speed = speed_settings(settings)
    path = group_dir(speed) / KERNELS_FILE
    write_record(path, {"format": FORMAT, **costs.to_json(), "clock": "llama.cpp counters", "settings": speed,
                  "machine": machine_identity(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "timings": [dataclasses.asdict(t) for t in timings]})
    return path, costs
