"""Documents that attack the reader: endless sources, a FIFO nobody writes to, a ZIP bomb as EPUB,
HTML nested 100,000 deep, broken UTF-16.  Each ends in one line and exit 2, in bounded time, and the
endless ones also under a 2 GB address-space limit (a MemoryError there would be a traceback)."""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from localctx.core.docread import DEFAULT_MAX_BYTES, MIN_MAX_BYTES, max_bytes_for
from localctx.core.extract import extract
from localctx.errors import LocalctxError

AS_LIMIT = 2 << 30


def _one_line(exc: LocalctxError) -> str:
    line = exc.one_line()
    assert "\n" not in line
    return line


def _zip_bomb(path: Path, member_bytes: int, name: str = "mimetype") -> None:
    """A ZIP whose one deflated member unpacks to ``member_bytes`` zeros while the file stays a few MB:
    a fully flushed deflate block of 1 MiB of zeros is self-contained, so it is simply repeated."""
    mib = 1 << 20
    assert member_bytes % mib == 0 and member_bytes < 1 << 32  # no ZIP64 needed
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp.compress(bytes(mib))
    comp.flush(zlib.Z_FULL_FLUSH)  # the first block carries the stream's start; repeat the second
    block = comp.compress(bytes(mib)) + comp.flush(zlib.Z_FULL_FLUSH)
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(bytes(mib)) + first.flush(zlib.Z_FULL_FLUSH)
    n = member_bytes // mib
    data = head + block * (n - 1) + first.flush()
    crc = 0
    chunk = bytes(mib)
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    fname = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), member_bytes, len(fname), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), member_bytes,
                          len(fname), 0, 0, 0, 0, 0, 0) + fname
    body = local + fname + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(body), 0)
    path.write_bytes(body + central + end)


def _limited_run(args: list[str], stdin: object = subprocess.DEVNULL, home: Path | None = None
                 ) -> subprocess.CompletedProcess[str]:
    """``python -m localctx ARGS`` under a 2 GB address-space limit, 60 s at most."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))

    env = dict(os.environ, LOCALCTX_HOME=str(home)) if home else None
    return subprocess.run([sys.executable, "-m", "localctx", *args], stdin=stdin, capture_output=True, text=True,
                          timeout=60, preexec_fn=limit, env=env)


# ---- the cap follows the context ----------------------------------------------------------------------
def test_the_cap_follows_the_context_within_its_floor_and_ceiling() -> None:
    assert max_bytes_for(None) == DEFAULT_MAX_BYTES
    assert max_bytes_for(2048) == MIN_MAX_BYTES
    assert MIN_MAX_BYTES < max_bytes_for(256 * 1024) < DEFAULT_MAX_BYTES
    assert max_bytes_for(8 << 20) == DEFAULT_MAX_BYTES


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    p = tmp_path / "big.txt"
    p.write_bytes(b"word " * 300_000)  # 1.5 MB
    with pytest.raises(LocalctxError) as err:
        extract(p, max_bytes=1 << 20)
    line = _one_line(err.value)
    assert "big.txt" in line and "1.00 MiB" in line and "more than" in line
    assert extract(p, max_bytes=2 << 20).text.startswith("word word")


# ---- files that are not files ---------------------------------------------------------------------------
def test_a_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-c", "import sys; from localctx.core.extract import extract\n"
                        "from localctx.errors import LocalctxError\n"
                        "try:\n    extract(sys.argv[1])\nexcept LocalctxError as e:\n    print(e.one_line())",
                        str(fifo)], capture_output=True, text=True, timeout=30)
    assert "FIFO" in r.stdout and "pipe.txt" in r.stdout, r.stderr[-2000:]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_by_its_type(device: str) -> None:
    with pytest.raises(LocalctxError) as err:
        extract(device)
    assert "is a device" in _one_line(err.value)


# ---- broken encodings ----------------------------------------------------------------------------------
def test_utf16_with_a_bom_and_broken_content_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_bytes(b"\xff\xfe" + b"\x00\xd8" * 500 + b"x")  # lone surrogates and an odd length
    with pytest.raises(LocalctxError) as err:
        extract(p)
    assert "not valid UTF-16" in _one_line(err.value)
    ok = tmp_path / "ok.txt"
    ok.write_bytes("\ufeffcafé au lait".encode("utf-16-le").replace(b"\xff\xfe", b"\xff\xfe", 1))
    assert extract(ok).text == "café au lait\n"


# ---- ZIP bombs and deep HTML ---------------------------------------------------------------------------
def test_a_zip_bomb_epub_is_refused_by_its_declared_size(tmp_path: Path) -> None:
    bomb = tmp_path / "book.epub"
    _zip_bomb(bomb, 256 << 20)
    assert bomb.stat().st_size < 2 << 20
    t0 = time.monotonic()
    with pytest.raises(LocalctxError) as err:
        extract(bomb)
    line = _one_line(err.value)
    assert "book.epub" in line and "unpacks to more than 64.00 MiB" in line
    assert time.monotonic() - t0 < 5


def test_html_nested_100k_deep_is_read_in_linear_time(tmp_path: Path) -> None:
    p = tmp_path / "deep.html"
    depth = 100_000
    p.write_text("<html><body>" + "<div>" * depth + "<h2>Deep  title</h2><p>the bottom</p>" + "</div>" * depth
                 + "<p>after</p></body></html>")
    t0 = time.monotonic()
    x = extract(p)
    took = time.monotonic() - t0
    assert x.kind == "html" and "## Deep title" in x.text and "the bottom" in x.text and "after" in x.text
    assert took < 10, f"{took:.1f} s for {depth:,} levels"  # the tree builder took > 60 s


def test_unclosed_tags_and_hidden_elements_in_the_linear_reader(tmp_path: Path) -> None:
    p = tmp_path / "soup.html"
    p.write_text("<html><head><title>t</title></head><body><nav>menu</nav>" + "<font>" * 2000
                 + "<h1>Old  page</h1>line one<br>line two<script>var a;</script><p>para</p></body></html>")
    x = extract(p)
    assert "# Old page" in x.text and "line one\nline two" in x.text and "para" in x.text
    assert "var a" not in x.text and "menu" not in x.text


# ---- the whole command under a 2 GB address-space limit ------------------------------------------------
@pytest.mark.parametrize("case", ["ask -f /dev/zero", "ask -f /dev/urandom", "summarize - <zero", "ask -f - <zero",
                                  "summarize bomb.epub", "ask -f fifo"])
def test_unbounded_inputs_end_in_one_line_under_2gb(tmp_path: Path, case: str) -> None:
    cmd, _, arg = case.partition(" ")
    stdin: object = subprocess.DEVNULL
    if arg.endswith("<zero"):
        stdin = open("/dev/zero", "rb")
        arg = arg.removesuffix(" <zero")
    if arg == "bomb.epub":
        _zip_bomb(tmp_path / "bomb.epub", 3 << 30)  # 3 GB: more than the whole address space allowed
        arg = str(tmp_path / "bomb.epub")
    if arg == "-f fifo":
        os.mkfifo(tmp_path / "fifo")
        arg = f"-f {tmp_path / 'fifo'}"
    args = [cmd, *(["smollm2"] if cmd == "ask" else []), *arg.split(), *(["what is it?"] if cmd == "ask" else [])]
    try:
        r = _limited_run(args, stdin=stdin, home=tmp_path / "home")
    finally:
        if hasattr(stdin, "close"):
            stdin.close()  # type: ignore[union-attr]
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-3000:]
    assert "MemoryError" not in r.stderr and "Traceback" not in r.stderr
    assert any(w in lines[0] for w in ("is a device", "more than", "FIFO")), lines[0]
