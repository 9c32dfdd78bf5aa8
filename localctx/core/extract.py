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


def extract(path: Path | str) -> Extracted:
    """Read ``path`` (``-``: standard input) and return its text, normalized to ``\\n`` newlines;
    raise LocalctxError (EmptyDocumentError for a file without text)."""
    if str(path) == STDIN:
        import sys

        return extract_bytes(Path("stdin"), sys.stdin.buffer.read())
    path = Path(path).expanduser()
    if path.is_dir():
        raise LocalctxError(f"{path}: is a directory", "pass the files inside it")
    if not path.exists():
        raise LocalctxError(f"{path}: no such file", "check the path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LocalctxError(f"{path}: cannot read ({exc.strerror})") from None
    return extract_bytes(path, data)


def extract_bytes(path: Path, data: bytes) -> Extracted:
    """The text of ``data`` read from ``path`` (whose name and suffix guide the format)."""
    import hashlib

    if not data.strip():
        raise EmptyDocumentError(f"{path}: the file is empty", "there is no text in it")
    suffix = path.suffix.lower()
    if data.startswith(b"%PDF"):
        kind, text = "pdf", _pdf(path, data)
    elif data.startswith(b"PK\x03\x04"):
        kind, text = _zip(path, data, suffix)
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
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
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
_BLOCKS = ("p", "div", "li", "tr", "blockquote", "pre", "section", "article", "dd", "dt", "table", "ul", "ol")


def html_to_text(html: str) -> str:
    """Visible text of an HTML page with headings as Markdown ``#`` lines and blocks as paragraphs."""
    bs4 = _need("bs4", "HTML", package="beautifulsoup4")
    soup = bs4.BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "head", "nav"]):
        tag.decompose()
    for level in range(1, 7):
        for h in soup.find_all(f"h{level}"):
            title = " ".join(h.get_text(" ").split())
            h.replace_with(f"\n\n{'#' * level} {title}\n\n" if title else "")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    text = soup.get_text()
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _zip(path: Path, data: bytes, suffix: str) -> tuple[str, str]:
    if suffix in KNOWN_UNSUPPORTED:  # .docx/.pptx/.xlsx/.odt are ZIPs too: name the format, don't guess
        raise _unsupported(path, suffix)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            mimetype = zf.read("mimetype").decode("ascii", "replace").strip() if "mimetype" in zf.namelist() else ""
    except zipfile.BadZipFile:
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
