"""Hub configuration read at call time, the huggingface_hub handle, and one error vocabulary.

huggingface_hub freezes ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and the cache path when it is imported; a
long-lived TUI or a test changes them, so they are read here at each call and pushed into the library.
Every library or network failure leaves through ``translated`` as a HubError or ModelNotFoundError that
says what happened (refused, timed out, short body, 401/403/404) and what to do.  The library's own
retry chatter goes to a debug log, never to stderr.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.errors import HubError, LocalctxError, ModelNotFoundError
from localctx.hub.select import HubRef

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_ETAG_OK = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


# ---- configuration, read now ---------------------------------------------------------------------
@dataclass(frozen=True)
class HubConfig:
    endpoint: str
    cache_dir: Path
    offline: bool
    token: str | None


def _true(v: str | None) -> bool:
    return (v or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_config() -> HubConfig:
    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        cache = Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"])
    else:
        hf_home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
        cache = Path(hf_home) / "hub"
    return HubConfig(
        endpoint=(env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/"),
        cache_dir=Path(os.path.expandvars(str(cache))).expanduser(),
        offline=_true(env.get("HF_HUB_OFFLINE")) or _true(env.get("TRANSFORMERS_OFFLINE")),
        token=env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None,
    )


def hf_module(cfg: HubConfig) -> Any:
    import huggingface_hub
    from huggingface_hub import constants

    # the library froze these at import; its request hook and background lookups read them
    constants.HF_HUB_OFFLINE = cfg.offline
    constants.ENDPOINT = cfg.endpoint
    constants.HUGGINGFACE_CO_URL_TEMPLATE = cfg.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    _install_guard()
    _quiet_library()
    return huggingface_hub


def debug_log_path() -> Path:
    return paths.hub_debug_log()


def _quiet_library() -> None:
    """huggingface_hub logs every retry as a WARNING ("Retrying in 1s [Retry 1/5]"): up to 13 lines on
    stderr for one failed pull, when the error that follows says it all.  Its log goes to the debug log
    (``hub-debug.log`` in localctx's cache folder; also stderr with LOCALCTX_DEBUG=1)."""
    import logging

    log = logging.getLogger("huggingface_hub")
    if getattr(log, "_localctx_quiet", False):
        return
    for h in list(log.handlers):  # the library's own stderr handler
        log.removeHandler(h)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    handler = _debug_log_handler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    if os.environ.get("LOCALCTX_DEBUG"):
        log.addHandler(logging.StreamHandler())
    log._localctx_quiet = True  # type: ignore[attr-defined]


def _debug_log_handler() -> Any:
    """A logging handler for the debug log (the class is built here: logging stays unimported until a pull)."""
    import logging

    class DebugLog(logging.Handler):
        """Appends to the debug log named at each record (LOCALCTX_HOME may change in a long-lived
        process); a log that cannot be written is dropped, never reported on stderr."""

        def emit(self, record: logging.LogRecord) -> None:
            try:
                path = debug_log_path()
                paths.ensure(path.parent)
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(self.format(record) + "\n")
            except Exception:  # noqa: BLE001 - a debug log must never break or clutter a command
                pass

    return DebugLog()


@contextlib.contextmanager
def library_warnings_to_log() -> Iterator[None]:
    """``warnings.warn`` from huggingface_hub/httpx inside the block go to the debug log, not stderr."""
    import logging
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                logging.getLogger("huggingface_hub").warning("%s: %s", w.category.__name__, w.message)


def _auth_hint(cfg: HubConfig, repo: str) -> str:
    return f"log in (`hf auth login`) or set HF_TOKEN, or accept the licence on the model page {cfg.endpoint}/{repo}"


@contextlib.contextmanager
def translated(cfg: HubConfig, ref: HubRef) -> Iterator[None]:
    """Every huggingface_hub/httpx failure becomes a HubError or ModelNotFoundError with a next step."""
    import httpx2
    from huggingface_hub import errors as e

    try:
        yield
    except LocalctxError:
        raise
    except e.GatedRepoError as exc:
        raise HubError(f"{ref.repo} is gated and this account has no access ({exc.response.status_code})",
                       _auth_hint(cfg, ref.repo)) from None
    except e.RepositoryNotFoundError:
        raise ModelNotFoundError(ref.repo, hint=f"not found on the Hub at {cfg.endpoint}; check the name; if it is "
                                 f"private or gated, {_auth_hint(cfg, ref.repo)}") from None
    except e.RevisionNotFoundError:
        raise LocalctxError(f"{ref.repo} has no revision '{ref.revision}'", "pass an existing branch, tag or commit "
                            "with --revision") from None
    except e.RemoteEntryNotFoundError as exc:
        raise HubError(f"{ref.repo}: a listed file is missing on the server ({exc.response.url})",
                       "try again later") from None
    except e.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise HubError(f"access to {ref.repo} was refused ({status})", _auth_hint(cfg, ref.repo)) from None
        raise HubError(f"the Hub answered {status} for {ref.repo}", "try again later") from None
    except (httpx2.HTTPError, e.OfflineModeIsEnabled) as exc:
        raise network_error(cfg.endpoint, exc) from None
    except ValueError as exc:  # argument validation, unsafe pointer paths inside the library
        raise HubError(f"refusing {ref.spec}: {exc}") from None
    except OSError as exc:  # size consistency check, disk errors
        raise HubError(f"{ref.spec}: download failed ({' '.join(str(exc).split())})",
                       f"run `localctx pull {ref.spec}` again") from None


def network_error(endpoint: str, exc: BaseException) -> HubError:
    """What really happened on the wire, in words: refused, unreachable, timed out, or a short body."""
    import httpx2

    detail = " ".join(str(exc).split())
    if isinstance(exc, httpx2.ConnectError):
        why = "connection refused" if "refused" in detail.lower() else f"cannot connect: {detail}"
        return HubError(f"cannot reach the Hub at {endpoint}: {why}",
                        "check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache")
    if isinstance(exc, httpx2.TimeoutException):
        return HubError(f"the Hub at {endpoint} stopped answering ({type(exc).__name__})",
                        "try again later, or set HF_HUB_OFFLINE=1 to use only the cache")
    if isinstance(exc, httpx2.RemoteProtocolError):
        return HubError(f"the server at {endpoint} closed the connection before the end of its answer "
                        f"(a short body: {detail})", "try again later; a download resumes where it stopped")
    return HubError(f"talking to the Hub at {endpoint} failed ({type(exc).__name__}: {detail})",
                    "check the network, or set HF_HUB_OFFLINE=1 to use only the cache")


def _inside(path: Path, root: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root))
    except ValueError:
        return False


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return u.scheme, u.netloc


def _guard_resolve_headers(response: Any) -> None:
    """huggingface_hub 2.4 names the cache blob after the server's ETag and the snapshot after X-Repo-Commit
    without checking them (an ETag of '../../x' writes outside the cache); refuse such answers first."""
    if "resolve" not in response.request.url.path:
        return
    h = response.headers
    etag = (h.get("X-Linked-Etag") or h.get("ETag") or "").removeprefix("W/").strip('"')
    commit = h.get("X-Repo-Commit")
    if (etag and not _ETAG_OK.match(etag)) or (commit is not None and not _HEX40.match(commit)):
        raise HubError(f"refusing the answer from {response.request.url.host}: unsafe ETag {etag!r} or commit "
                       f"{commit!r}", "this server or mirror is not trustworthy; check HF_ENDPOINT")


def _install_guard() -> None:
    """Every client huggingface_hub creates gets the header guard (it shares one client per process)."""
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils import _http  # private: checked against huggingface_hub 2.4.0

    if getattr(_http, "_localctx_guarded", False):
        return

    def factory() -> Any:
        client = _http.default_client_factory()
        client.event_hooks["response"].append(_guard_resolve_headers)
        return client

    set_client_factory(factory)
    setattr(_http, "_localctx_guarded", True)  # noqa: B010 - a private module: no attribute to declare
