"""`localctx plan MODEL --ctx N`: the context-extension plan and the memory verdict, before loading."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from localctx.cli._options import JsonOpt, ModelArg
from localctx.cli._runtime_opts import runtime_options
from localctx.cli._sampling_opts import sampling_options
from localctx.core.flags import SETTING_FLAGS, RuntimeFlags, SamplingFlags


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def register(app: typer.Typer) -> None:
    @app.command()
    @runtime_options
    @sampling_options
    def plan(
        model: ModelArg = None,
        json: JsonOpt = False,
        save: Annotated[bool, typer.Option("--save", help="Remember these runtime and sampling flags for this "
                                           "model (every command then applies them, and says so).")] = False,
        forget: Annotated[bool, typer.Option("--forget", help="Clear the settings saved for this model.")] = False,
        *,
        runtime: RuntimeFlags,
        sampling: SamplingFlags,
    ) -> None:
        """Show how a context is reached (RoPE/YaRN plan, why, quality warning) and whether it fits memory.

        Example: localctx plan smollm2 --ctx 32k -ctk q8_0 --dry-multiplier 0.8 --save
        """
        from localctx.cli._output import emit_json, hint, human_bytes, info, shown, stdout, warn
        from localctx.errors import SettingsError
        from localctx.services.runtime import make_plan

        if save and forget:
            raise SettingsError("give --save or --forget, not both")
        if forget:
            from localctx.core.model_info import read_model_info
            from localctx.models.catalog import resolve_model
            from localctx.models.settings_file import clear_model_settings, settings_file

            path = read_model_info(resolve_model(model)).path
            cleared = clear_model_settings(path)
            info(f"cleared the saved settings for {path.name} in {settings_file()}" if cleared
                 else f"no settings were saved for {path.name}")
        rp = make_plan(model, runtime, sampling=sampling)
        if rp.saved_line:
            info(rp.saved_line)
        if save:
            from localctx.core.flags import describe_sampling, describe_settings
            from localctx.models.settings_file import save_model_settings

            given, chosen = runtime.overrides(), sampling.overrides()
            if not given and not chosen:
                raise SettingsError("--save needs runtime or sampling flags to remember",
                                    "e.g. plan MODEL --ctx 16k -ctk q8_0 --save")
            where = save_model_settings(rp.info.path, given, chosen)
            said = " ".join(t for t in (describe_settings(given), describe_sampling(chosen)) if t)
            info(f"saved for {rp.info.path.name} in {where}: {said} (clear with --forget)")
        from localctx.core.rpc_forecast import forecast

        net = forecast(rp.memory, rp.info.n_embd, rp.info.n_vocab)
        if json:
            emit_json({**rp.to_json(), "rpc": net.to_json() if net else None})
            return
        from localctx.cli._tables import pairs

        ext = rp.extension
        t = pairs(f"{shown(rp.info.path.name)} at {rp.settings.n_ctx:,} tokens")
        if ext is not None:
            t.add_row("method",
                      ext.method + (" (auto)" if rp.settings.extend == "auto" and ext.method != "none" else ""))
            t.add_row("factor", f"{ext.factor:g}x (trained context {ext.n_ctx_train:,})")
            planned = " ".join(f"{SETTING_FLAGS[k]} {_fmt(v)}" for k, v in ext.parameters.items())
            params = planned or "none (as the model says)"
            t.add_row("llama.cpp", params)
            if ext.parameters.get("rope_freq_scale"):
                t.add_row("original context", f"{ext.parameters.get('yarn_orig_ctx') or ext.n_ctx_train:,}")
            if ext.self_extend:
                t.add_row("self-extend", f"group {ext.self_extend['group']}, window {ext.self_extend['window']}")
            t.add_row("why", ext.reason)
            if ext.user_set:
                t.add_row("as given", ", ".join(SETTING_FLAGS.get(k, k) for k in ext.user_set))
        s = rp.settings
        fa = {None: "auto", True: "on", False: "off"}[s.flash_attn]
        t.add_row("KV cache", f"K {s.type_k}, V {s.type_v}; flash attention {fa}; "
                  f"swa_full {'on' if s.swa_full else 'off'}")
        m = rp.memory
        t.add_row("memory", f"weights {human_bytes(m.weights_bytes)}, KV {human_bytes(m.kv_bytes)}, "
                  f"compute {human_bytes(m.compute_bytes)}, total {human_bytes(m.total)}")
        for sv in net.servers if net else []:
            room = f" of {human_bytes(sv.free)} free" if sv.free is not None else ""
            t.add_row(f"RPC {sv.endpoint}", f"{sv.layers} layers: weights {human_bytes(sv.weights)}, KV "
                      f"{human_bytes(sv.kv)}, compute {human_bytes(sv.compute)} = {human_bytes(sv.total)}{room} "
                      "taken off this machine")
        if rp.sampling is not None:
            t.add_row("sampling", rp.sampling.shown)
        t.add_row("verdict", rp.verdict.summary)
        if rp.forecast is not None:
            from localctx.cli._forecast import forecast_rows

            for label, text in forecast_rows(rp.forecast):
                t.add_row(label, text)
        stdout.print(t)
        for note in net.notes if net else []:
            warn(note)
        if ext is not None and ext.warning:
            warn(ext.warning)
        for note in (ext.notes if ext else []):
            info(f"note: {note}")
        if rp.verdict is not None and rp.verdict.fits is False:
            from localctx.services.runtime import ways_out

            largest, kv_fix = ways_out(rp)
            fixes = [f"--ctx {largest}" if largest else None, kv_fix, "fewer -ngl" if rp.machine.gpus else None]
            warn("this context does not fit the memory free now; try " + ", or ".join(f for f in fixes if f))
        else:
            from localctx.core.flags import command_line

            given = {k: v for k, v in runtime.overrides().items() if k != "n_ctx"}
            hint(command_line("localctx chat", model or "smollm2", {"n_ctx": s.n_ctx, **given}))
