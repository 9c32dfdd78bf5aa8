"""Text extraction: real files of each format, and the bad inputs that must be one-line exit-2 errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.extract import extract
from localctx.errors import LocalctxError


def _pdf_bytes(lines: list[str]) -> bytes:
    """A minimal, valid one-page PDF with Helvetica text (built by hand: pypdf cannot write text)."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({ln}) '" for ln in lines) + " ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{o}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{off:010d} 00000 n \n" for off in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_plain_text_and_markdown(tmp_path: Path) -> None:
    p = tmp_path / "notes.md"
    p.write_bytes("# Title\r\n\r\nCafé line.   \r\n\r\n\r\n\r\n\r\nEnd.\r\n".encode())
    x = extract(p)
    assert x.kind == "markdown"
    assert x.text == "# Title\n\nCafé line.\n\n\nEnd.\n"
    assert len(x.sha256) == 64
    t = tmp_path / "plain.txt"
    t.write_bytes("caf\xe9 latin-1 text".encode("latin-1"))
    assert extract(t).text == "café latin-1 text\n"


def test_pdf(tmp_path: Path) -> None:
    p = tmp_path / "report.pdf"
    p.write_bytes(_pdf_bytes(["The lighthouse keeper counted 412 gulls.", "Second line here."]))
    x = extract(p)
    assert x.kind == "pdf"
    assert "412 gulls" in x.text and "Second line" in x.text


def test_html_headings_become_markdown(tmp_path: Path) -> None:
    p = tmp_path / "page.html"
    p.write_text("<html><head><title>t</title><style>x{}</style></head><body><nav>menu</nav>"
                 "<h1>Main  Title</h1><p>First <b>para</b>.</p><script>var a;</script>"
                 "<h2>Part two</h2><ul><li>one</li><li>two</li></ul></body></html>")
    x = extract(p)
    assert x.kind == "html"
    assert x.text == "# Main Title\n\nFirst para .\n\n## Part two\n\none\n\ntwo\n" or (
        "# Main Title" in x.text and "## Part two" in x.text and "var a" not in x.text and "menu" not in x.text)


def test_epub(tmp_path: Path) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("id1")
    book.set_title("A Book")
    book.set_language("en")
    chapters = []
    for i in (1, 2):
        c = epub.EpubHtml(title=f"Chapter {i}", file_name=f"c{i}.xhtml", lang="en")
        c.content = f"<h1>Chapter {i}</h1><p>In chapter {i} the baker sold {i * 100} loaves.</p>"
        book.add_item(c)
        chapters.append(c)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = chapters
    p = tmp_path / "book.epub"
    epub.write_epub(str(p), book)
    x = extract(p)
    assert x.kind == "epub"
    order = [x.text.index(s) for s in ("# Chapter 1", "100 loaves", "# Chapter 2", "200 loaves")]
    assert order == sorted(order)


@pytest.mark.parametrize("name,data,words", ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "", argvalues=[
    ("empty.txt", b"", "empty"),
    ("blank.md", b"  \n\n\t\n", "empty"),
    ("blob.txt", bytes(range(256)) * 8, "binary"),
    ("image.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "unsupported format '.png'"),
    ("letter.docx", "docx", "unsupported format '.docx'"),
    ("archive.zip", "zip", "unsupported format '.zip'"),
    ("scan.pdf", b"%PDF-1.4\nnot really a pdf", "PDF"),
])
def test_bad_inputs_are_exit_2(tmp_path: Path, name: str, data: bytes | str, words: str) -> None:
    p = tmp_path / name
    if data in ("docx", "zip"):  # a real ZIP container, as Word writes one
        import zipfile

        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("[Content_Types].xml", "<Types/>")
            zf.writestr("word/document.xml", "<w:document/>")
    else:
        p.write_bytes(data)
    with pytest.raises(LocalctxError) as ei:
        extract(p)
    assert ei.value.exit_code == 2
    assert words in ei.value.one_line()
    assert "\n" not in ei.value.one_line()


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for p, words in ((tmp_path / "nope.txt", "no such file"), (tmp_path, "directory")):
        with pytest.raises(LocalctxError, match=words) as ei:
            extract(p)
        assert ei.value.exit_code == 2
