"""Reading a document's bytes without trusting it: a size cap, regular files only, bounded ZIP members.

A document is held in memory whole (its hash is the checkpoint key, its text is chunked or put into
the context), so an endless source (``/dev/zero``, ``- </dev/zero``), a FIFO nobody writes to, or a
ZIP whose members unpack to gigabytes must be refused before it is read, in one line naming the cap.

The cap follows the context where the command knows it when it reads (``--ctx``): a document that goes
into the context cannot usefully be much larger than the context, so ``BYTES_PER_TOKEN`` bytes a
token (English text is ~4 bytes a token; PDF and EPUB containers add fonts, markup and images) with
``MIN_MAX_BYTES`` as the floor.  Where the context is not known yet (the model decides it, or
``summarize`` reads a book longer than any context chunk by chunk) the cap is ``DEFAULT_MAX_BYTES``.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import BinaryIO

from localctx.core.units import human_bytes
from localctx.errors import LocalctxError

#: the cap when the context is not known at read time: ~16M tokens of English text, days of CPU work
DEFAULT_MAX_BYTES = 64 << 20
#: the cap never falls below this, however small the context (a PDF with figures is megabytes)
MIN_MAX_BYTES = 16 << 20
#: generous bytes per context token for the cap that follows ``--ctx``
BYTES_PER_TOKEN = 128


def max_bytes_for(n_ctx: int | None) -> int:
    """The largest document (in bytes, read or unpacked) that a context of ``n_ctx`` tokens takes;
    ``DEFAULT_MAX_BYTES`` when the context is not known."""
    if not n_ctx or n_ctx <= 0:
        return DEFAULT_MAX_BYTES
    return min(DEFAULT_MAX_BYTES, max(MIN_MAX_BYTES, n_ctx * BYTES_PER_TOKEN))


def too_large(where: object, size: int | None, max_bytes: int) -> LocalctxError:
    said = f"{human_bytes(size)}, more than" if size is not None else "more than"
    return LocalctxError(f"{where}: {said} the {human_bytes(max_bytes)} a document may have here",
                         f"split it into files of at most {human_bytes(max_bytes)}")


def _read_capped(stream: BinaryIO, where: object, max_bytes: int) -> bytes:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large(where, None, max_bytes)
    return data


def read_stdin(stream: BinaryIO | None, max_bytes: int) -> bytes:
    """Standard input up to ``max_bytes`` (a closed stdin reads as empty)."""
    if stream is None:
        return b""
    return _read_capped(stream, "stdin", max_bytes)


def read_path(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, at most ``max_bytes``.  FIFOs, devices and sockets are refused by
    their type before they are opened (opening a FIFO without a writer blocks for ever, a device may
    never end), and the file is opened non-blocking and checked again, so a swap in between is caught."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise LocalctxError(f"{path}: no such file", "check the path") from None
    except OSError as exc:
        raise LocalctxError(f"{path}: cannot read ({exc.strerror or exc})") from None
    _check_type(path, st.st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise LocalctxError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        _check_type(path, st.st_mode)
        if st.st_size > max_bytes:
            raise too_large(path, st.st_size, max_bytes)
        try:
            return _read_capped(f, path, max_bytes)
        except OSError as exc:
            raise LocalctxError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _check_type(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise LocalctxError(f"{path}: is a directory", "pass the files inside it")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise LocalctxError(f"{path}: is {kind}, not a document file",
                            "save it to a file first, or pipe it in with --file - (standard input)")


def check_zip_sizes(path: Path, zf: zipfile.ZipFile, max_bytes: int) -> None:
    """Refuse a ZIP whose members declare more than ``max_bytes`` unpacked.  zipfile never returns
    more than a member's declared size (a member that lies fails its CRC check), so checking the
    declared sizes bounds everything read from the archive later."""
    total = 0
    for info in zf.infolist():
        total += max(info.file_size, 0)
        if total > max_bytes:
            raise LocalctxError(f"{path}: unpacks to more than {human_bytes(max_bytes)} (its members declare "
                                f"{human_bytes(sum(i.file_size for i in zf.infolist()))}), more than a "
                                f"document may have", "a real EPUB is a few megabytes; check where it came from")
