"""Which GGUF in a Hub repo: references, quant names, split shards, the default choice.  Pure: no I/O.

A reference is ``owner/repo``, ``owner/repo:QUANT`` or ``owner/repo:path/in/repo.gguf`` (``hf.co/`` and
``https://huggingface.co/`` prefixes are accepted, as Ollama and llama.cpp users type them).  A
"choice" is one loadable model: a single file, or every shard of a ``-00001-of-0000N.gguf`` split.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from localctx.errors import LocalctxError

DEFAULT_QUANT = "Q4_K_M"
DEFAULT_REVISION = "main"
#: when the repo has no Q4_K_M: the usual next-best trade-offs, then the smallest file
FALLBACK_ORDER = ("Q4_K_M", "Q4_K_S", "IQ4_XS", "Q4_0", "Q5_K_M", "Q5_K_S", "Q4_1", "Q6_K", "Q8_0", "Q3_K_M",
                  "Q3_K_L", "IQ4_NL", "BF16", "F16", "F32")

_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_SHARD_RE = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<n>\d{5})\.gguf$", re.IGNORECASE)
_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32|MXFP4(?:_MOE)?|TQ\d_\d))(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_PREFIXES = ("https://huggingface.co/", "http://huggingface.co/", "huggingface.co/", "hf.co/", "hf://")


class QuantNotFoundError(LocalctxError):
    """The repo has no file matching the requested quant or file name (bad input: exit 2)."""


@dataclass(frozen=True)
class HubRef:
    repo: str
    selector: str | None = None  # a quant (Q4_K_M) or a file path ending in .gguf
    revision: str = DEFAULT_REVISION

    @property
    def wants_file(self) -> bool:
        return self.selector is not None and self.selector.lower().endswith(".gguf")

    @property
    def spec(self) -> str:
        return f"{self.repo}:{self.selector}" if self.selector else self.repo

    @property
    def command_args(self) -> str:
        """The arguments of the `localctx pull` that fetches this reference."""
        rev = "" if self.revision == DEFAULT_REVISION else f" --revision {self.revision}"
        return self.spec + rev


def looks_like_hub_ref(ref: str) -> bool:
    """``owner/repo[:x]`` (not a relative path such as ``models/x.gguf``)."""
    for p in _PREFIXES:
        if ref.lower().startswith(p):
            ref = ref[len(p):]
    repo, colon, _ = ref.partition(":")
    return bool(_REPO_RE.match(repo)) and (bool(colon) or not repo.lower().endswith(".gguf"))


def parse_ref(ref: str, revision: str | None = None) -> HubRef:
    text = ref.strip()
    for p in _PREFIXES:
        if text.lower().startswith(p):
            text = text[len(p):]
    repo, _, selector = text.partition(":")
    if not _REPO_RE.match(repo) or ".." in repo:
        raise LocalctxError(f"'{ref}' is not a Hub model reference", "use owner/repo, owner/repo:QUANT or "
                            "owner/repo:file.gguf (e.g. bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M)")
    rev = (revision or DEFAULT_REVISION).strip()
    if not rev or ".." in rev or rev.startswith("/") or "\\" in rev:
        raise LocalctxError(f"invalid revision '{revision}'", "pass a branch, tag or commit id")
    return HubRef(repo, selector.strip() or None, rev)


def quant_of(path: str) -> str:
    """The quant token of a GGUF file name (``UD-Q4_K_XL``, ``Q8_0``, ``BF16``), else of its folder, else the stem."""
    p = PurePosixPath(path)
    stem = p.name[:-5] if p.name.lower().endswith(".gguf") else p.name
    m = _SHARD_RE.match(p.name)
    if m:
        stem = m["stem"]
    for text in (stem, p.parent.name):
        found = _QUANT_RE.findall(text)
        if found:
            return found[-1].upper()
    return stem


def is_safe_repo_path(path: str) -> bool:
    """A relative POSIX path with no '..', no absolute root, no backslash or drive: it stays in its folder."""
    if not path or len(path) > 1024 or "\\" in path or "\0" in path or path.startswith("/"):
        return False
    parts = path.split("/")
    return all(part not in ("", ".", "..") for part in parts) and ":" not in parts[0]


@dataclass(frozen=True)
class HubFile:
    path: str  # in the repo, POSIX
    size: int | None
    sha256: str | None  # the Hub's LFS oid; None for a non-LFS file or a cache listing
    blob_id: str | None = None  # the git blob SHA-1 (the ETag of a non-LFS file); None in a cache listing

    @property
    def digest(self) -> str | None:
        """The hash the download is checked against (and the cache blob's name): sha256 for LFS, else SHA-1."""
        return self.sha256 or self.blob_id


@dataclass(frozen=True)
class GGUFChoice:
    quant: str
    files: tuple[HubFile, ...]  # the first shard first

    @property
    def first(self) -> str:
        return self.files[0].path

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {"quant": self.quant, "file": self.first, "size_bytes": self.size, "shards": len(self.files),
                "files": [f.__dict__ for f in self.files]}


@dataclass(frozen=True)
class RepoListing:
    repo: str
    revision: str
    commit: str
    choices: tuple[GGUFChoice, ...]
    from_cache: bool = False
    incomplete: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"repo": self.repo, "revision": self.revision, "commit": self.commit, "from_cache": self.from_cache,
                "default": default_choice(self.choices)[0].quant if self.choices else None,
                "quants": [c.to_json() for c in self.choices]}


def _is_model_gguf(path: str) -> bool:
    name = PurePosixPath(path).name.lower()
    return name.endswith(".gguf") and not name.startswith("mmproj") and "imatrix" not in name


def group_ggufs(files: Iterable[HubFile]) -> tuple[GGUFChoice, ...]:
    """Model GGUFs (not vision projectors or imatrix files) as choices; split shards grouped, complete only."""
    singles: list[GGUFChoice] = []
    shards: dict[tuple[str, int], dict[int, HubFile]] = {}
    for f in files:
        if not _is_model_gguf(f.path):
            continue
        m = _SHARD_RE.match(f.path)
        if m:
            shards.setdefault((m["stem"], int(m["n"])), {})[int(m["no"])] = f
        else:
            singles.append(GGUFChoice(quant_of(f.path), (f,)))
    for (_stem, n), got in shards.items():
        if sorted(got) == list(range(1, n + 1)):
            first = got[1]
            singles.append(GGUFChoice(quant_of(first.path), tuple(got[i] for i in range(1, n + 1))))
    return tuple(sorted(singles, key=lambda c: (c.quant.upper(), c.first)))


def _quant_key(q: str) -> str:
    return q.upper().removeprefix("UD-")


def default_choice(choices: tuple[GGUFChoice, ...]) -> tuple[GGUFChoice, str | None]:
    for q in FALLBACK_ORDER:
        hit = [c for c in choices if c.quant.upper() == q] or [c for c in choices if _quant_key(c.quant) == q]
        if hit:
            return hit[0], q
    return min(choices, key=lambda c: c.size), None


def available(choices: tuple[GGUFChoice, ...]) -> str:
    return ", ".join(dict.fromkeys(c.quant for c in choices)) or "none"


def choose(listing: RepoListing, selector: str | None) -> tuple[GGUFChoice, list[str]]:
    """The choice for a selector (a quant, case-insensitive, or a file), and notes about any fallback."""
    repo, choices = listing.repo, listing.choices
    if not choices:
        raise QuantNotFoundError(f"{repo} has no GGUF model files at {listing.revision}",
                                 "pick a GGUF repo (search the Hub for '<model> GGUF')")
    avail = available(choices)
    if selector and selector.lower().endswith(".gguf"):
        for c in choices:
            if any(f.path == selector or PurePosixPath(f.path).name == selector for f in c.files):
                return c, []
        raise QuantNotFoundError(f"{repo} has no file '{selector}' (quants: {avail})",
                                 f"see `localctx pull --list {repo}`")
    if selector:
        hits = [c for c in choices if c.quant.upper() == selector.upper()]
        hits = hits or [c for c in choices if _quant_key(c.quant) == _quant_key(selector)]
        if not hits:
            raise QuantNotFoundError(f"{repo} has no {selector} GGUF (available: {avail})",
                                     f"run `localctx pull {repo}:{default_choice(choices)[0].quant}`, or see "
                                     f"`localctx pull --list {repo}`")
        if len(hits) > 1:
            raise QuantNotFoundError(f"{repo} has several {selector} files: {', '.join(c.first for c in hits)}",
                                     f"name one: `localctx pull {repo}:{hits[0].first}`")
        return hits[0], []
    choice, matched = default_choice(choices)
    if matched == DEFAULT_QUANT:
        return choice, []
    return choice, [f"{repo} has no {DEFAULT_QUANT}; using {choice.quant} (available: {avail})"]
