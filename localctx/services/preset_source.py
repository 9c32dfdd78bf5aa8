"""Preset names (``qwen3-8b``, ``qwen3-8b:Q8_0``) as model references for `estimate` and `pull`.

A preset resolves like any model once pulled; one that is not is a PresetNotPulledError from the
catalog's resolver, the same answer in every command.  `estimate` alone can still use it: it reads the
header over HTTP from the preset's repo and file (nothing is downloaded); `pull` downloads that repo
and quant.  Offline, or when the Hub cannot be reached, the answer is the `localctx pull` to run.
"""

from __future__ import annotations

from typing import Any

from localctx.errors import HubError, ModelNotFoundError, PresetNotPulledError
from localctx.models.presets import preset_ref


def hub_ref_of(ref: str | None) -> str | None:
    """``owner/repo:QUANT`` for a preset reference; None when ``ref`` is not a preset."""
    found = preset_ref(ref)
    if found is None:
        return None
    preset, quant = found
    return f"{preset.repo}:{quant}"


def pull_target(ref: str, revision: str | None = None) -> tuple[Any, str | None]:
    """What pulling ``ref`` downloads, the one answer for `localctx pull` and the TUI's Pull dialog:
    (the parsed HubRef, the preset's ``owner/repo:QUANT`` when ``ref`` is a preset name, else None).

    A preset quant it does not have, or text that is neither a preset nor a Hub reference, is a
    LocalctxError (exit 2) with the line both doors show."""
    from localctx.hub import client as hub

    preset_hub_ref = hub_ref_of(ref)
    return hub.parse_ref(preset_hub_ref or ref, revision), preset_hub_ref


def remote_preset_info(missing: PresetNotPulledError) -> Any:
    """The ModelInfo of a preset that is not pulled, read from its repo's header over HTTP.

    Offline: the resolver's own error again (the same line every command gives).  The Hub not
    reachable: a HubError (exit 1, as for any Hub reference); the repo without the file: the
    ModelNotFoundError (exit 2).  Both say the `pull` to run."""
    from localctx.hub import client as hub

    if hub.hub_config().offline:
        raise missing
    pull = f"localctx pull {missing.ref}"
    try:
        return hub.model_info_remote(missing.hub_ref)
    except HubError as exc:
        raise HubError(f"'{missing.ref}' is a preset that is not pulled and its header could not be read "
                       f"({exc.message})", f"run `{pull}` when the Hub is reachable") from None
    except ModelNotFoundError as exc:
        raise ModelNotFoundError(str(missing.ref), hint=f"it is a preset that is not pulled and {missing.hub_ref} "
                                 f"has no such file ({exc.message}); see `localctx presets`") from None


__all__ = ["hub_ref_of", "preset_ref", "pull_target", "remote_preset_info"]
