"""`localctx.hub.client.pull` against a real HTTP Hub on 127.0.0.1, with the real huggingface_hub client."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from localctx.core.gguf_reader import read_gguf_header
from localctx.core.model_info import read_model_info
from localctx.errors import HubError, ModelNotFoundError
from localctx.hub import client as hub
from localctx.hub.select import QuantNotFoundError
from localctx.models.catalog import resolve_model
from tests.hub.conftest import REPO, SMOL_REPO, SPLIT_REPO
from tests.hub.loopback_hub import LoopbackHub, closed_port


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _cache(repo: str) -> Path:
    return Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))


def test_single_file_lands_in_the_shared_cache_layout_verified(server: LoopbackHub,
                                                               tiny_files: dict[str, Path]) -> None:
    repo = server.add_repo(REPO, {**tiny_files, "README.md": b"# tiny\n"})
    seen: list[hub.PullProgress] = []
    res = hub.pull(hub.parse_ref(REPO), progress=seen.append)

    src = tiny_files["Tiny-Q4_K_M.gguf"]
    assert (res.name, res.quant, res.commit, res.verified, res.from_cache) == (f"{REPO}:Q4_K_M", "Q4_K_M",
                                                                               repo.commit, True, False)
    snap = _cache(REPO) / "snapshots" / repo.commit / "Tiny-Q4_K_M.gguf"
    assert res.path == snap and snap.is_symlink()
    assert Path(os.path.realpath(snap)) == _cache(REPO) / "blobs" / _sha(src)  # LFS blob named by its sha256
    assert (_cache(REPO) / "refs" / "main").read_text() == repo.commit
    assert snap.read_bytes() == src.read_bytes()
    assert read_model_info(snap).n_embd == 64
    assert res.downloaded_bytes == src.stat().st_size
    phases = {(p.phase, p.done) for p in seen}
    assert ("download", src.stat().st_size) in phases and ("verify", src.stat().st_size) in phases

    before = len(server.blob_requests(_sha(src)))
    again = hub.pull(hub.parse_ref(f"{REPO}:Q4_K_M"))
    assert again.from_cache and again.downloaded_bytes == 0 and again.path == snap
    assert len(server.blob_requests(_sha(src))) == before  # nothing downloaded twice


def test_split_model_downloads_every_shard(server: LoopbackHub, split_files: dict[str, Path]) -> None:
    repo = server.add_repo(SPLIT_REPO, split_files)
    res = hub.pull(hub.parse_ref(SPLIT_REPO))  # default Q4_K_M: the 3-shard split in its subfolder
    assert res.quant == "Q4_K_M" and len(res.paths) == 3 and res.verified
    for i, p in enumerate(res.paths, 1):
        assert p.name == f"Split-Q4_K_M-0000{i}-of-00003.gguf" and p.parent.name == "Q4_K_M"
        assert p.read_bytes() == split_files[f"Q4_K_M/{p.name}"].read_bytes()
        assert read_gguf_header(p).metadata["split.no"] == i - 1
    assert res.size_bytes == sum(split_files[f"Q4_K_M/{p.name}"].stat().st_size for p in res.paths)
    assert resolve_model(f"{SPLIT_REPO}:Q4_K_M") == res.paths[0]  # the loader opens the rest from shard 1
    assert repo.commit in str(res.paths[0])


def test_quant_selection_and_fallback(server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    server.add_repo(REPO, {k: v for k, v in tiny_files.items() if "Q4_K_M" not in k})
    listing = hub.list_quants(hub.parse_ref(REPO))
    assert [c.quant for c in listing.choices] == ["IQ4_XS", "Q8_0"]  # the mmproj projector is not a model
    sizes = [tiny_files[f"Tiny-{q}.gguf"].stat().st_size for q in ("IQ4_XS", "Q8_0")]
    assert [c.size for c in listing.choices] == sizes

    res = hub.pull(hub.parse_ref(REPO))
    assert res.quant == "IQ4_XS"
    assert res.notes == (f"{REPO} has no Q4_K_M; using IQ4_XS (available: IQ4_XS, Q8_0)",)

    assert hub.pull(hub.parse_ref(f"{REPO}:q8_0")).quant == "Q8_0"  # case-insensitive
    with pytest.raises(QuantNotFoundError) as ei:
        hub.pull(hub.parse_ref(f"{REPO}:Q5_K_M"))
    assert ei.value.exit_code == 2
    assert f"{REPO} has no Q5_K_M GGUF (available: IQ4_XS, Q8_0)" in ei.value.one_line()


def test_resume_after_the_server_drops_the_connection(server: LoopbackHub, smollm2_path: Path) -> None:
    repo = server.add_repo(SMOL_REPO, {smollm2_path.name: smollm2_path})
    sha = repo.files[smollm2_path.name].sha256
    cut = 25 << 20
    server.cut_first_get[sha] = cut  # the first response dies after 25 MiB of 94 MiB
    res = hub.pull(hub.parse_ref(f"{SMOL_REPO}:Q4_1"))

    gets = server.blob_requests(sha)
    assert len(gets) == 2 and gets[0].range is None and gets[0].body_bytes == cut
    start = int(gets[1].range.removeprefix("bytes=").split("-")[0])  # the retry asks only for the rest
    assert 0 < start <= cut and gets[1].status == 206
    assert gets[1].body_bytes == smollm2_path.stat().st_size - start
    assert res.verified and _sha(res.path) == sha


def test_interrupted_pull_resumes_in_the_next_run(server: LoopbackHub, smollm2_path: Path) -> None:
    """Ctrl-C loses nothing: the partial blob stays, and the next pull asks only for the missing bytes."""
    repo = server.add_repo(SMOL_REPO, {smollm2_path.name: smollm2_path})
    sha, size = repo.files[smollm2_path.name].sha256, smollm2_path.stat().st_size

    def interrupt(p: hub.PullProgress) -> None:
        if p.done >= 30 << 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hub.pull(hub.parse_ref(SMOL_REPO), progress=interrupt)
    partial = _cache(SMOL_REPO) / "blobs" / f"{sha}.localctx-partial"
    kept = partial.stat().st_size
    assert kept >= 20 << 20 and not (_cache(SMOL_REPO) / "blobs" / sha).exists()

    res = hub.pull(hub.parse_ref(SMOL_REPO))
    assert res.quant == "Q4_1" and res.notes[0].startswith(f"{SMOL_REPO} has no Q4_K_M; using Q4_1")
    assert res.downloaded_bytes == size - kept and res.verified and _sha(res.path) == sha
    last = server.blob_requests(sha)[-1]
    assert last.range == f"bytes={kept}-" and last.status == 206 and last.body_bytes == size - kept
    assert not partial.exists()


def test_sha256_mismatch_deletes_the_file_and_says_so(server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    repo = server.add_repo(REPO, tiny_files)
    sha = repo.files["Tiny-Q4_K_M.gguf"].sha256
    server.corrupt.add(sha)  # right size, wrong bytes: only a sha256 check can tell
    with pytest.raises(HubError) as ei:
        hub.pull(hub.parse_ref(REPO))
    msg = ei.value.one_line()
    assert "Tiny-Q4_K_M.gguf: sha256 mismatch" in msg and "the corrupt file was deleted" in msg
    assert ei.value.exit_code == 1
    assert not (_cache(REPO) / "blobs" / sha).exists()
    assert not (_cache(REPO) / "snapshots" / repo.commit / "Tiny-Q4_K_M.gguf").exists()
    with pytest.raises(ModelNotFoundError):
        resolve_model(f"{REPO}:Q4_K_M")

    server.corrupt.clear()  # a clean retry succeeds
    assert hub.pull(hub.parse_ref(REPO)).verified


def test_offline_resolves_from_cache_with_no_connection(server: LoopbackHub, tiny_files: dict[str, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    server.add_repo(REPO, tiny_files)
    pulled = hub.pull(hub.parse_ref(f"{REPO}:Q8_0"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    connections = server.connections

    res = hub.pull(hub.parse_ref(f"{REPO}:Q8_0"))
    assert res.from_cache and res.path == pulled.path
    assert resolve_model(REPO) == pulled.path  # the only pulled quant
    assert resolve_model(f"{REPO}:Tiny-Q8_0.gguf") == pulled.path
    assert hub.model_info_remote(f"{REPO}:Q8_0").n_embd == 96  # estimate input read from the cached file
    with pytest.raises(ModelNotFoundError) as ei:
        resolve_model(f"{REPO}:Q4_K_M")
    assert f"run `localctx pull {REPO}:Q4_K_M` while online" in ei.value.one_line()
    with pytest.raises(ModelNotFoundError) as ei:
        hub.pull(hub.parse_ref("acme/Other-GGUF", "v2"))
    assert "run `localctx pull acme/Other-GGUF --revision v2` while online" in ei.value.one_line()
    assert "HF_HUB_OFFLINE=1 is set" in ei.value.one_line()
    assert server.connections == connections  # not one socket opened to the Hub


def test_unreachable_network_falls_back_to_the_cache(server: LoopbackHub, tiny_files: dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server.add_repo(REPO, tiny_files)
    pulled = hub.pull(hub.parse_ref(REPO))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")  # nothing listens there
    res = hub.pull(hub.parse_ref(REPO))
    assert res.from_cache and res.path == pulled.path and "cannot reach the Hub" in res.notes[0]
    with pytest.raises(ModelNotFoundError) as ei:
        hub.pull(hub.parse_ref(f"{REPO}:Q8_0"))
    assert "is unreachable" in ei.value.one_line() and f"localctx pull {REPO}:Q8_0" in ei.value.one_line()


def test_not_enough_disk_space_refuses_before_downloading(server: LoopbackHub, tiny_files: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    repo = server.add_repo(REPO, tiny_files)
    real = psutil.disk_usage
    monkeypatch.setattr(psutil, "disk_usage", lambda p: real(p)._replace(free=1000))  # the probe only
    with pytest.raises(HubError) as ei:
        hub.pull(hub.parse_ref(REPO))
    assert "not enough disk space" in ei.value.one_line() and "0.0 MiB free" in ei.value.one_line()
    assert f"needs {tiny_files['Tiny-Q4_K_M.gguf'].stat().st_size / (1 << 20):.1f} MiB" in ei.value.one_line()
    assert server.blob_requests(repo.files["Tiny-Q4_K_M.gguf"].sha256) == []
    assert not (_cache(REPO) / "blobs").exists()


@pytest.mark.parametrize("name", ["../../evil-Q4_K_M.gguf", "Q4_K_M/../../../evil-Q4_K_M.gguf"])
def test_hostile_file_name_is_refused(server: LoopbackHub, tiny_files: dict[str, Path], tmp_path: Path,
                                      name: str) -> None:
    server.add_repo(REPO, {name: tiny_files["Tiny-Q4_K_M.gguf"]})
    for local_dir in (None, tmp_path / "dl" / "inner"):
        with pytest.raises(HubError) as ei:
            hub.pull(hub.parse_ref(REPO), local_dir=local_dir)
        assert f"unsafe file name '{name}'" in ei.value.one_line()
    assert not [r for r in server.requests if "/resolve/" in r.path or r.path.startswith("/blobs/")]
    assert not list(tmp_path.rglob("evil*")) and not list(Path(os.environ["HF_HOME"]).rglob("evil*"))


def test_hostile_etag_is_refused(server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    """huggingface_hub names the cache blob after the server's ETag: a path-like one must never reach it."""
    repo = server.add_repo(REPO, tiny_files)
    sha = repo.files["Tiny-Q4_K_M.gguf"].sha256
    server.etag_override[sha] = "../../../../evil"
    with pytest.raises(HubError) as ei:
        hub.pull(hub.parse_ref(REPO))
    assert "unsafe ETag '../../../../evil'" in ei.value.one_line()
    assert server.blob_requests(sha) == [] and not list(Path(os.environ["HF_HOME"]).parent.rglob("evil*"))


def test_gated_and_private_repos_say_how_to_get_access(server: LoopbackHub, tiny_files: dict[str, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server.add_repo(REPO, tiny_files, access="gated", tokens={"hf_good"})
    server.add_repo("acme/Secret-GGUF", tiny_files, access="private", tokens={"hf_good"})
    for token, status in ((None, 401), ("hf_wrong", 403)):
        if token:
            monkeypatch.setenv("HF_TOKEN", token)
        with pytest.raises(HubError) as ei:
            hub.pull(hub.parse_ref(REPO))
        msg = ei.value.one_line()
        assert f"{REPO} is gated" in msg and f"({status})" in msg
        assert "log in (`hf auth login`)" in msg
        assert f"accept the licence on the model page {server.endpoint}/{REPO}" in msg
    with pytest.raises(ModelNotFoundError) as ei:
        hub.pull(hub.parse_ref("acme/Secret-GGUF"))
    assert "hf auth login" in ei.value.one_line()

    monkeypatch.setenv("HF_TOKEN", "hf_good")
    res = hub.pull(hub.parse_ref(REPO))
    assert res.verified
    assert all(r.authorized for r in server.requests if r.path.startswith("/api/models/") and r.status == 200)
    assert not any(r.authorized for r in server.requests if r.path.startswith("/blobs/"))  # token stays on the Hub


def test_local_dir_download(server: LoopbackHub, tiny_files: dict[str, Path], tmp_path: Path) -> None:
    server.add_repo(REPO, tiny_files)
    res = hub.pull(hub.parse_ref(f"{REPO}:Q8_0"), local_dir=tmp_path / "models")
    assert res.path == tmp_path / "models" / "Tiny-Q8_0.gguf" and not res.path.is_symlink()
    assert res.verified and res.path.read_bytes() == tiny_files["Tiny-Q8_0.gguf"].read_bytes()
    assert not _cache(REPO).exists()
