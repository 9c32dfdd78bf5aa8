"""Pulls from a Hub that misbehaves: plain-git (no LFS) model files, missing hashes, a server that
trickles, one that cuts every body short, one that refuses connections, and a partial larger than the
file.  Real HTTP on 127.0.0.1 (tests/hub/loopback_hub.py), the real huggingface_hub client."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from localctx.errors import HubError
from localctx.hub import client as hub
from localctx.hub.cache import PARTIAL_SUFFIX
from tests.hub.conftest import REPO
from tests.hub.loopback_hub import LoopbackHub, closed_port, git_blob_oid
from tests.slowness import scaled

Q4 = "Tiny-Q4_K_M.gguf"


def _cache(repo: str) -> Path:
    return Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))


def _requests(server: LoopbackHub, sha: str, n: int) -> list:
    """The blob's GETs once ``n`` are booked (a handler books its request when it ends; wait for that)."""
    deadline = time.monotonic() + scaled(30)
    while len(server.blob_requests(sha)) < n and time.monotonic() < deadline:
        server.settled()
        time.sleep(0.02)
    return server.blob_requests(sha)


def test_a_gguf_without_lfs_is_verified_by_its_git_sha1(server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    server.add_repo(REPO, tiny_files, no_lfs={Q4})
    res = hub.pull(hub.parse_ref(REPO))
    data = tiny_files[Q4].read_bytes()
    assert res.verified and res.verification == "git SHA-1"
    assert res.path.read_bytes() == data
    assert Path(os.path.realpath(res.path)) == _cache(REPO) / "blobs" / git_blob_oid(data)


def test_a_corrupt_gguf_without_lfs_is_refused_and_deleted(server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    repo = server.add_repo(REPO, tiny_files, no_lfs={Q4})
    server.corrupt.add(repo.files[Q4].sha256)
    with pytest.raises(HubError, match="git SHA-1 mismatch"):
        hub.pull(hub.parse_ref(REPO))
    assert not [p for p in (_cache(REPO) / "blobs").iterdir() if not p.name.endswith(".lock")]


def test_a_file_with_no_hash_is_refused_unless_no_verify(server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    server.add_repo(REPO, tiny_files, no_lfs={Q4})
    server.hide_blob_id = True
    with pytest.raises(hub.UnverifiableError) as err:
        hub.pull(hub.parse_ref(REPO))
    assert err.value.exit_code == 2 and "--no-verify" in err.value.one_line() and Q4 in err.value.one_line()
    res = hub.pull(hub.parse_ref(REPO), no_verify=True)
    assert not res.verified and res.path.read_bytes() == tiny_files[Q4].read_bytes()
    assert any(n.startswith("not verified (--no-verify): Tiny-Q4_K_M.gguf") for n in res.notes), res.notes


def test_a_stalled_server_times_out_after_resuming(server: LoopbackHub, tiny_files: dict[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    repo = server.add_repo(REPO, tiny_files)
    sha = repo.files[Q4].sha256
    server.trickle[sha] = 0.1  # one byte every 0.1 s: never silent, never progressing
    monkeypatch.setenv("LOCALCTX_HUB_STALL_SECONDS", "0.5")
    t0 = time.monotonic()
    with pytest.raises(HubError) as err:
        hub.pull(hub.parse_ref(REPO))
    line = err.value.one_line()
    assert "stalled" in line and "resumed 2 times" in line and "LOCALCTX_HUB_STALL_SECONDS" in line, line
    assert time.monotonic() - t0 < 60
    assert len(_requests(server, sha, 3)) == 3  # the first GET and two resumes
    partial = _cache(REPO) / "blobs" / f"{sha}{PARTIAL_SUFFIX}"
    assert 0 < partial.stat().st_size < repo.files[Q4].size  # kept for the next pull


def test_a_short_body_is_named(server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    repo = server.add_repo(REPO, tiny_files)
    sha = repo.files[Q4].sha256
    server.short_body[sha] = 1000  # every response ends after 1,000 of the promised bytes
    with pytest.raises(HubError) as err:
        hub.pull(hub.parse_ref(REPO))
    line = err.value.one_line()
    assert "short body" in line and "3000 of" in line and "cannot reach" not in line, line
    assert [r.range for r in _requests(server, sha, 3)] == [None, "bytes=1000-", "bytes=2000-"]
    del server.short_body[sha]
    res = hub.pull(hub.parse_ref(REPO))  # the next pull resumes from the 3,000 bytes kept
    assert res.verified and res.downloaded_bytes == repo.files[Q4].size - 3000
    assert _requests(server, sha, 4)[-1].range == "bytes=3000-"


def test_a_refused_connection_is_one_line_and_no_retry_chatter(monkeypatch: pytest.MonkeyPatch,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(HubError) as err:
        hub.pull(hub.parse_ref(REPO))
    assert "connection refused" in err.value.one_line()
    out, errtext = capfd.readouterr()
    assert out == "" and errtext == "", errtext  # huggingface_hub's retry warnings went to the debug log


def test_a_partial_larger_than_the_file_is_discarded(server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    repo = server.add_repo(REPO, tiny_files)
    f = repo.files[Q4]
    blobs = _cache(REPO) / "blobs"
    blobs.mkdir(parents=True)
    (blobs / f"{f.sha256}{PARTIAL_SUFFIX}").write_bytes(b"\0" * (f.size + 4096))
    res = hub.pull(hub.parse_ref(REPO))
    assert res.verified and hashlib.sha256(res.path.read_bytes()).hexdigest() == f.sha256
    assert any("larger than the file" in n and "discarded" in n for n in res.notes), res.notes


def test_the_cli_refuses_an_unverifiable_file_and_says_what_no_verify_skipped(
        server: LoopbackHub, tiny_files: dict[str, Path]) -> None:
    from typer.testing import CliRunner

    from localctx.cli.app import app

    server.add_repo(REPO, tiny_files, no_lfs={Q4})
    server.hide_blob_id = True
    r = CliRunner().invoke(app, ["pull", REPO])
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and "--no-verify" in r.stderr
    r = CliRunner().invoke(app, ["pull", REPO, "--no-verify"])
    assert r.exit_code == 0, r.output
    assert "not verified (--no-verify): Tiny-Q4_K_M.gguf" in " ".join(r.stderr.split())
    server.hide_blob_id = False
    r = CliRunner().invoke(app, ["pull", f"{REPO}:Q8_0"])
    assert r.exit_code == 0 and "sha256 verified" in r.stderr, r.stderr


@pytest.mark.parametrize("lie", ["extra_bytes", "understate"])
def test_a_file_larger_than_listed_fails_after_bounded_tries(server: LoopbackHub, tiny_files: dict[str, Path],
                                                             lie: str) -> None:
    """A body longer than the listed size (extra bytes with a Content-Length that matches them, or a
    listing whose size is short) is discarded and tried again a bounded number of times, then refused in
    one line; nothing larger than listed is kept."""
    repo = server.add_repo(REPO, tiny_files)
    sha = repo.files[Q4].sha256
    getattr(server, lie)[sha] = 4096
    with pytest.raises(HubError) as err:
        hub.pull(hub.parse_ref(REPO))
    line = err.value.one_line()
    assert "more than the" in line and "the repository lists" in line and Q4 in line, line
    assert 1 <= len(_requests(server, sha, 1)) <= 3
    assert not (_cache(REPO) / "blobs" / f"{sha}{PARTIAL_SUFFIX}").exists()
    getattr(server, lie).pop(sha)
    res = hub.pull(hub.parse_ref(REPO))  # an honest server afterwards: the pull works
    assert res.verified and hashlib.sha256(res.path.read_bytes()).hexdigest() == sha
