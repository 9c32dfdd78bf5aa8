"""Preset names (``qwen3-8b``, ``qwen3-8b:Q8_0``) as model references for `estimate` and `pull`.

A preset that is pulled resolves like any model (the catalog lists cached presets as a source).
One that is not here is still useful: `estimate` reads its header over HTTP from the preset's repo
and file (nothing is downloaded), and `pull` downloads that repo and quant.  Offline, or when the Hub
cannot be reached, the answer is the exact `localctx pull` command to run - one line, never a guess.
"""

from __future__ import annotations

from typing import Any

from localctx.errors import HubError, LocalctxError, ModelNotFoundError


def preset_ref(ref: str | None) -> tuple[Any, str] | None:
    """(preset, quant) when ``ref`` names a preset (``NAME`` or ``NAME:QUANT``), else None."""
    if not ref or "/" in ref or ref.lower().endswith(".gguf"):
        return None
    from localctx.models.presets import get_preset

    name, _, quant = ref.partition(":")
    try:
        preset = get_preset(name.strip())
    except LocalctxError:
        return None
    if preset is None:
        return None
    quant = (quant.strip() or preset.default_quant)
    known = {q.upper(): q for q in preset.files}
    if quant.upper() not in known:
        raise LocalctxError(f"preset {preset.name} has no quant '{quant}'",
                            f"use one of: {', '.join(preset.files)}")
    return preset, known[quant.upper()]


def hub_ref_of(ref: str | None) -> str | None:
    """``owner/repo:QUANT`` for a preset reference; None when ``ref`` is not a preset."""
    found = preset_ref(ref)
    if found is None:
        return None
    preset, quant = found
    return f"{preset.repo}:{quant}"


def remote_preset_info(ref: str | None) -> Any:
    """The ModelInfo of a preset that is not pulled, read from its repo's header over HTTP; None when
    ``ref`` is no preset.  Offline or unreachable: ModelNotFoundError saying the `pull` to run."""
    hub_ref = hub_ref_of(ref)
    if hub_ref is None:
        return None
    pull = f"localctx pull {ref}"
    from localctx.hub import client as hub

    if hub.hub_config().offline:
        raise ModelNotFoundError(str(ref), hint=f"it is a preset that is not pulled, and HF_HUB_OFFLINE is set: "
                                 f"run `{pull}` when online")
    try:
        return hub.model_info_remote(hub_ref)
    except (HubError, ModelNotFoundError) as exc:
        raise ModelNotFoundError(str(ref), hint=f"it is a preset that is not pulled and its header could not be "
                                 f"read ({exc.message}): run `{pull}`") from None
