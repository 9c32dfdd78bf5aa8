"""Header-only reads of Hub models over HTTP Range: what `localctx estimate REPO:QUANT` needs, no download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localctx.core.gguf_reader import read_gguf_header
from localctx.core.model_info import read_model_info
from localctx.errors import HubError
from localctx.hub import client as hub
from tests.hub.conftest import SMOL_REPO, SPLIT_REPO
from tests.hub.loopback_hub import LoopbackHub


def test_remote_model_info_matches_the_local_file_for_a_fraction_of_the_bytes(
        server: LoopbackHub, smollm2_path: Path) -> None:
    server.add_repo(SMOL_REPO, {smollm2_path.name: smollm2_path})
    remote = hub.model_info_remote(f"{SMOL_REPO}:Q4_1")
    local = read_model_info(smollm2_path)
    for field in ("arch", "n_layer", "n_embd", "n_head_kv", "n_params", "ctx_train", "n_vocab", "tensor_bytes",
                  "file_size", "tensor_bytes_by_type", "has_chat_template"):
        assert getattr(remote, field) == getattr(local, field), field

    sent = server.body_bytes("/blobs/")
    size = smollm2_path.stat().st_size
    header = read_gguf_header(smollm2_path).data_offset
    assert header < sent < size / 20  # the header (1.7 MiB) plus at most one growth step, of a 94 MiB file
    assert all(r.status == 206 for r in server.requests if r.path.startswith("/blobs/"))
    assert not (Path(os.environ["HF_HOME"]) / "hub").exists()  # nothing was written to the cache


def test_split_model_reads_every_shard_header(server: LoopbackHub, split_files: dict[str, Path]) -> None:
    server.add_repo(SPLIT_REPO, split_files)
    h = hub.read_remote_header(SPLIT_REPO, "Q4_K_M")
    shards = [read_gguf_header(split_files[f"Q4_K_M/Split-Q4_K_M-0000{i}-of-00003.gguf"]) for i in (1, 2, 3)]
    assert [t.name for t in h.tensors] == [t.name for s in shards for t in s.tensors]
    assert h.file_size == sum(s.file_size for s in shards)
    assert h.metadata["split.count"] == 3 and h.metadata["llama.block_count"] == 3
    for s in shards:
        sha = next(f.sha256 for f in server.repos[SPLIT_REPO].files.values() if f.size == s.file_size
                   and f.path.endswith(s.path.name))
        assert 0 < sum(r.body_bytes for r in server.blob_requests(sha)) <= s.file_size
    mi = hub.model_info_remote(f"{SPLIT_REPO}:Q4_K_M")
    assert mi.n_layer == 3 and mi.tensor_bytes == sum(s.tensor_bytes for s in shards)
    assert not list(Path(os.environ["HF_HOME"]).rglob("*.gguf"))  # nothing downloaded

    hub.pull(hub.parse_ref(SPLIT_REPO))  # once pulled, the same answer comes from the cached shards
    server.requests.clear()
    cached = hub.model_info_remote(f"{SPLIT_REPO}:Q4_K_M")
    assert (cached.tensor_bytes, cached.file_size, cached.n_params) == (mi.tensor_bytes, mi.file_size, mi.n_params)
    assert server.requests == []


def test_remote_read_needs_the_network(server: LoopbackHub, smollm2_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server.add_repo(SMOL_REPO, {smollm2_path.name: smollm2_path})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError) as ei:
        hub.model_info_remote(f"{SMOL_REPO}:Q4_1")
    assert "HF_HUB_OFFLINE=1 is set" in ei.value.one_line()
    assert f"localctx pull {SMOL_REPO}:Q4_1" in ei.value.one_line()
    assert server.connections == 0


def test_memory_estimate_of_a_hub_model_without_downloading_it(server: LoopbackHub, smollm2_path: Path) -> None:
    """The hook in services/memory.py: `estimate REPO:QUANT` plans from the remote header like from the file."""
    from localctx.core.settings import RuntimeSettings
    from localctx.services.memory import estimate, plan_for_machine

    server.add_repo(SMOL_REPO, {smollm2_path.name: smollm2_path})
    settings = RuntimeSettings(n_ctx=2048)
    remote = estimate(f"{SMOL_REPO}:Q4_1", settings)
    local = plan_for_machine(read_model_info(smollm2_path), settings)
    assert (remote.kv_bytes, remote.weights_bytes) == (local.kv_bytes, local.weights_bytes) and remote.kv_bytes > 0
    assert server.body_bytes("/blobs/") < smollm2_path.stat().st_size / 20
    assert not (Path(os.environ["HF_HOME"]) / "hub").exists()
