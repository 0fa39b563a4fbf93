"""User-facing errors: one line that says what went wrong, where, and how to fix it.

The CLI prints ``medbridge: error: <message>`` and exits with status 2 for these; a traceback
is shown only with ``--debug``. Anything else that escapes is a bug in medbridge.
"""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 300) -> str:
    """A library's error as one line of readable length (some list every class they know)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


class MedbridgeError(Exception):
    """A problem with the user's input or environment, not with medbridge."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None):
        self.what, self.where, self.fix = what, where, fix
        parts = [what]
        if where:
            parts.append(f"({where})")
        message = " ".join(parts)
        if fix:
            message += f"; {fix}"
        super().__init__(message)


class DataNotFoundError(MedbridgeError):
    """A dataset root, file or split is missing."""


class CorruptDataError(MedbridgeError):
    """A data file exists but cannot be read as the format it claims."""


class ConfigError(MedbridgeError):
    """A task YAML, CLI option or setting is invalid."""


class CheckpointError(MedbridgeError):
    """A model checkpoint path or id cannot be used."""


class RecordError(MedbridgeError):
    """A result record is malformed, of an old schema, or inconsistent with its samples."""
