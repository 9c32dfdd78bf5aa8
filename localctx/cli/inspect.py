"""`localctx inspect MODEL`: what the GGUF header says, without reading a byte of weights."""

from __future__ import annotations

import typer

from localctx.cli._options import JsonOpt, ModelArg


def _layers(idx: list[int]) -> str:
    """Compress [0,1,2,4,5] -> '0-2,4-5'."""
    out, start = [], None
    for i, v in enumerate(idx):
        if start is None:
            start = v
        if i + 1 == len(idx) or idx[i + 1] != v + 1:
            out.append(f"{start}" if start == v else f"{start}-{v}")
            start = None
    return ",".join(out) or "none"


def register(app: typer.Typer) -> None:
    @app.command()
    def inspect(model: ModelArg = None, json: JsonOpt = False) -> None:
        """Read a GGUF's header and tensor table (no weights) and report what llama.cpp will see.

        Example: localctx inspect smollm2 --json
        """
        from localctx.cli._output import emit_json, human_bytes, human_count, shown, stdout, warn
        from localctx.core.model_info import check_loadable
        from localctx.services.models import inspect_model

        mi = inspect_model(model)
        if json:
            emit_json(mi.to_json())
            check_loadable(mi)  # the report is printed; still exit 2 when llama.cpp can't load it
            return
        from localctx.cli._tables import pairs

        t = pairs(shown(mi.path.name))
        r = mi.rope
        rows = [
            ("architecture", mi.arch + ("" if mi.known_arch else " (unknown to localctx)")),
            ("name", mi.name or "-"),
            ("parameters", f"{human_count(mi.n_params)} ({mi.n_params:,})"),
            ("file type", mi.quant),
            ("file size", human_bytes(mi.file_size)),
            ("tensor bytes by type", ", ".join(f"{k} {human_bytes(v)}" for k, v in
                                               sorted(mi.tensor_bytes_by_type.items(), key=lambda kv: -kv[1]))),
            ("trained context", f"{mi.ctx_train:,}"),
            ("layers", str(mi.n_layer)),
            ("embedding size", str(mi.n_embd)),
            ("heads", str(mi.n_head)),
            ("KV heads", str(mi.n_head_kv)),
            ("key / value head dim", f"{mi.head_dim_k} / {mi.head_dim_v}"),
        ]
        if mi.head_dim_k_swa or mi.head_dim_v_swa:
            rows.append(("SWA key / value dim", f"{mi.head_dim_k_swa} / {mi.head_dim_v_swa}"))
        if mi.head_dim_k_mla or mi.head_dim_v_mla:
            rows.append(("MLA key / value dim", f"{mi.head_dim_k_mla} / {mi.head_dim_v_mla}"))
        if mi.n_expert:
            rows.append(("experts (used)", f"{mi.n_expert} ({mi.n_expert_used})"))
        swa = mi.swa_layer_indices
        rows.append(("sliding window", f"{mi.sliding_window} on layers {_layers(swa)} ({mi.swa_note})"
                     if swa else mi.swa_note))
        rows.append(("memory", mi.memory_kind + (f" {mi.ssm}" if mi.ssm else "")))
        rows.append(("vocab size", f"{mi.n_vocab:,}"))
        rows.append(("RoPE", f"type {r.rope_type}, dims {r.dimension_count}, freq base {r.freq_base}"))
        rows.append(("RoPE scaling", ", ".join(f"{k}={v}" for k, v in r.scaling_keys.items()) or
                     ("rope_freqs tensor" if r.has_freq_factors else "none in the file")))
        rows.append(("tied embeddings", "yes" if mi.tied_embeddings else "no"))
        rows.append(("chat template", "present" if mi.has_chat_template else "absent (a generic fallback is used)"))
        for k, v in rows:
            t.add_row(k, shown(v))  # names, keys and values from the file are text, never markup
        stdout.print(t)
        for m in mi.missing:
            warn(f"missing key llama.cpp needs: {m}")
        for n in mi.notes:
            warn(n)
        check_loadable(mi)
