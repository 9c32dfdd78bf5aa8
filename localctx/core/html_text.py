"""Visible text of an HTML page (or an EPUB chapter), headings as Markdown ``#`` lines, blocks as paragraphs.

beautifulsoup4 builds a tree, and its cost grows with the square of the nesting depth (8,000 nested
tags take seconds, 100,000 more than a minute); no page a person wrote nests that deep, but a hostile
or broken one (thousands of unclosed tags) does.  So the depth is measured first in one linear pass,
and a page deeper than ``MAX_TREE_DEPTH`` is read by a linear tokenizer (the standard library's
HTMLParser) that keeps the same text, headings and paragraph breaks without building a tree.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: deeper than this, the page is read without a tree (bs4 takes ~20 ms at this depth)
MAX_TREE_DEPTH = 512
HIDDEN = ("script", "style", "noscript", "template", "svg", "head", "nav")
BLOCKS = ("p", "div", "li", "tr", "blockquote", "pre", "section", "article", "dd", "dt", "table", "ul", "ol")
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
#: elements that never have content or an end tag
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
        "track", "wbr", "!doctype"}
_TAG = re.compile(r"<(/?)([a-zA-Z!][\w:.-]*)[^<>]*?(/?)>")  # [^<>]: a '<' never closed costs one scan


def nesting_depth(html: str) -> int:
    """The deepest element nesting of the page, counted from its tags alone (linear; unclosed tags count)."""
    depth = deepest = 0
    for m in _TAG.finditer(html):
        name = m.group(2).lower()
        if m.group(1):
            depth = max(depth - 1, 0)
        elif not m.group(3) and name not in VOID:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def html_to_text(html: str, bs4: object | None = None) -> str:
    """The page's visible text; ``bs4`` is the beautifulsoup4 module for a page of ordinary depth."""
    if bs4 is None or nesting_depth(html) > MAX_TREE_DEPTH:
        return _tidy(_linear_text(html))
    return _tidy(_tree_text(html, bs4))


def _tidy(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _tree_text(html: str, bs4: object) -> str:
    soup = bs4.BeautifulSoup(html, "html.parser")  # type: ignore[attr-defined]
    for tag in soup(list(HIDDEN)):
        tag.decompose()
    for level in range(1, 7):
        for h in soup.find_all(f"h{level}"):
            title = " ".join(h.get_text(" ").split())
            h.replace_with(f"\n\n{'#' * level} {title}\n\n" if title else "")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    return str(soup.get_text())


class _LinearText(HTMLParser):
    """Text, headings and block breaks from the token stream, with no tree: linear in the page's size."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0  # open hidden elements (script, style, ...)
        self.heading: tuple[int, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self.hidden += 1
        elif self.hidden:
            return
        elif tag in HEADINGS and self.heading is None:
            self.heading = (int(tag[1]), [])
        elif tag == "br":
            self._emit("\n")
        elif tag in BLOCKS:
            self._emit("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self.hidden:
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif self.hidden:
            return
        elif tag in HEADINGS and self.heading is not None and int(tag[1]) == self.heading[0]:
            level, parts = self.heading
            self.heading = None
            title = " ".join("".join(parts).split())
            self.out.append(f"\n\n{'#' * level} {title}\n\n" if title else "")
        elif tag in BLOCKS:
            self._emit("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self._emit(data)

    def _emit(self, text: str) -> None:
        if self.heading is not None:
            self.heading[1].append(" " if text.isspace() else text)
        else:
            self.out.append(text)


def _linear_text(html: str) -> str:
    parser = _LinearText()
    parser.feed(html)
    parser.close()
    if parser.heading is not None:  # a heading never closed: keep its text
        parser.out.append(" ".join(parser.heading[1]))
    return "".join(parser.out)
