"""Text out of the files people summarize: plain text, Markdown, PDF, HTML and EPUB.

The format is decided from the bytes first (PDF and ZIP magic), the suffix second, so a PDF named
``.txt`` still works and a ``.docx`` is refused by name rather than summarized as garbage.  The
libraries for PDF (pypdf), HTML (beautifulsoup4) and EPUB (ebooklib) are the ``docs`` extra and are
imported only when such a file comes in.  Every failure is a LocalctxError (exit 2) with one line.
Headings found in HTML/EPUB become Markdown ``#`` lines so the chunker can cut at them.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from localctx.core import html_text
from localctx.core.docread import DEFAULT_MAX_BYTES, check_zip_sizes, read_path, read_stdin
from localctx.errors import LocalctxError

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ".org", ".log", ".csv", ".tsv", ".json",
                 ".yaml", ".yml", ".toml", ".xml", ".tex", ".py", ".srt", ".vtt", ""}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED = "plain text, Markdown, PDF, HTML, EPUB"
#: formats people try that we deliberately do not guess at
KNOWN_UNSUPPORTED = {".docx", ".doc", ".odt", ".rtf", ".pptx", ".ppt", ".xlsx", ".xls", ".pages", ".mobi",
                     ".azw", ".azw3", ".djvu", ".zip", ".gz", ".tar", ".7z", ".png", ".jpg", ".jpeg", ".gif",
                     ".mp3", ".mp4", ".wav", ".gguf", ".bin", ".exe"}


class EmptyDocumentError(LocalctxError):
    """The file holds no text: summarize refuses it; chat and ask warn and go on without it."""


#: the file name that means "read standard input" (``--file -``)
STDIN = "-"


@dataclass(frozen=True)
class Extracted:
    path: Path
    kind: str  # text | markdown | pdf | html | epub
    text: str
    sha256: str  # of the file's bytes: the checkpoint key


def extract(path: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> Extracted:
    """Read ``path`` (``-``: standard input) and return its text, normalized to ``\\n`` newlines;
    raise LocalctxError (EmptyDocumentError for a file without text).  ``max_bytes`` caps the bytes
    read and, for EPUB, unpacked (``docread.max_bytes_for`` gives it for a context)."""
    if str(path) == STDIN:
        import sys

        return extract_bytes(Path("stdin"), read_stdin(getattr(sys.stdin, "buffer", None), max_bytes), max_bytes)
    path = Path(path).expanduser()
    return extract_bytes(path, read_path(path, max_bytes), max_bytes)


def extract_bytes(path: Path, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Extracted:
    """The text of ``data`` read from ``path`` (whose name and suffix guide the format)."""
    import hashlib

    if not data.strip():
        raise EmptyDocumentError(f"{path}: the file is empty", "there is no text in it")
    suffix = path.suffix.lower()
    if data.startswith(b"%PDF"):
        kind, text = "pdf", _pdf(path, data)
    elif data.startswith(b"PK\x03\x04"):
        kind, text = _zip(path, data, suffix, max_bytes)
    elif suffix in KNOWN_UNSUPPORTED:
        raise _unsupported(path, suffix)
    else:
        raw = _decode(path, data)
        if suffix in HTML_SUFFIXES or (suffix not in TEXT_SUFFIXES and _looks_like_html(raw)):
            kind, text = "html", html_to_text(raw)
        else:
            kind, text = ("markdown" if suffix in {".md", ".markdown"} else "text"), raw
    text = normalize(text)
    if not text.strip():
        raise EmptyDocumentError(f"{path}: no text found in this {kind} file",
                                 "a scanned PDF needs OCR first" if kind == "pdf" else None)
    return Extracted(path, kind, text, hashlib.sha256(data).hexdigest())


def normalize(text: str) -> str:
    """Unix newlines, no NULs, no trailing spaces on lines, at most two blank lines in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").replace("\ufeff", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{4,}", "\n\n\n", text).strip("\n") + "\n"


def _unsupported(path: Path, suffix: str) -> LocalctxError:
    return LocalctxError(f"{path}: unsupported format '{suffix or 'unknown'}'",
                         f"supported: {SUPPORTED}; convert it to text or PDF first")


def _decode(path: Path, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 by its BOM: broken units become U+FFFD, few allowed
        text = data.decode("utf-16", errors="replace")
        if text.count("\ufffd") > len(text) * 0.01:
            raise LocalctxError(f"{path}: starts like UTF-16 text but is not valid UTF-16",
                                "save it again as UTF-8 or UTF-16")
        return text
    sample = data[:65536]
    if b"\x00" in sample:
        raise LocalctxError(f"{path}: looks like a binary file, not text", f"supported: {SUPPORTED}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    controls = sum(1 for c in text[:65536] if ord(c) < 32 and c not in "\n\r\t\f")
    if controls > len(text[:65536]) * 0.01 or text.count("\ufffd") > len(text) * 0.01:
        raise LocalctxError(f"{path}: looks like a binary file, not text", f"supported: {SUPPORTED}")
    return text


def _looks_like_html(text: str) -> bool:
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html")) or "<body" in head


# ---- PDF -------------------------------------------------------------------------------------------
def _pdf(path: Path, data: bytes) -> str:
    pypdf = _need("pypdf", "PDF")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about a broken file: ours is the one line
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:  # noqa: BLE001 - any failure to decrypt with an empty password means "encrypted"
                raise LocalctxError(f"{path}: the PDF is encrypted", "decrypt it first (qpdf --decrypt)") from None
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except LocalctxError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds for broken files
        raise LocalctxError(f"{path}: cannot read this PDF ({type(exc).__name__}: {exc})") from None
    return "\n\n".join(p for p in pages if p)


# ---- HTML / EPUB -------------------------------------------------------------------------------------
def html_to_text(html: str) -> str:
    """Visible text of an HTML page with headings as Markdown ``#`` lines and blocks as paragraphs."""
    return html_text.html_to_text(html, _need("bs4", "HTML", package="beautifulsoup4"))


def _zip(path: Path, data: bytes, suffix: str, max_bytes: int) -> tuple[str, str]:
    if suffix in KNOWN_UNSUPPORTED:  # .docx/.pptx/.xlsx/.odt are ZIPs too: name the format, don't guess
        raise _unsupported(path, suffix)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip_sizes(path, zf, max_bytes)  # bounds everything ebooklib unpacks below too
            if "mimetype" in zf.namelist():
                with zf.open("mimetype") as member:
                    mimetype = member.read(64).decode("ascii", "replace").strip()
            else:
                mimetype = ""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError):
        raise LocalctxError(f"{path}: a damaged ZIP/EPUB file") from None
    if mimetype != "application/epub+zip" and suffix != ".epub":
        raise _unsupported(path, suffix)
    return "epub", _epub(path, data)


def _epub(path: Path, data: bytes) -> str:
    ebooklib = _need("ebooklib", "EPUB")
    import tempfile
    import warnings

    from ebooklib import epub

    with tempfile.NamedTemporaryFile(suffix=".epub") as tmp:  # ebooklib reads from a path
        tmp.write(data)
        tmp.flush()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                book = epub.read_epub(tmp.name, options={"ignore_ncx": True})
        except Exception as exc:  # noqa: BLE001 - ebooklib raises many kinds for broken files
            raise LocalctxError(f"{path}: cannot read this EPUB ({type(exc).__name__}: {exc})") from None
    parts: list[str] = []
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT:
            parts.append(html_to_text(item.get_content().decode("utf-8", errors="replace")))
    return "\n\n".join(p for p in parts if p.strip())


def _need(module: str, what: str, package: str | None = None) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise LocalctxError(f"reading {what} needs the '{package or module}' package",
                            "pip install 'localctx[docs]'") from None
