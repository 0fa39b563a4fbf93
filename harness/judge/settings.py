"""Judge settings: which OpenAI-compatible server judges, how, and in which mode.

Everything comes from environment variables (``medbridge eval --judge-*`` sets the same
variables for one run), so the hooks lmms-eval calls inside its own process see them too:

=================================  =======================================================
``MEDBRIDGE_JUDGE_BASE_URL``       the server, e.g. ``http://localhost:8000/v1`` (required)
``MEDBRIDGE_JUDGE_MODEL``          the served model name (required)
``MEDBRIDGE_JUDGE_API_KEY_ENV``    NAME of the variable holding the API key (default
                                   ``MEDBRIDGE_JUDGE_API_KEY``; unset -> a dummy key, which
                                   local servers accept)
``MEDBRIDGE_JUDGE_MODE``           ``off`` | ``fallback`` | ``all`` for MCQ tasks; set, it
                                   overrides every task's ``metadata.judge_mode``
``MEDBRIDGE_JUDGE_TIMEOUT``        seconds per request (60)
``MEDBRIDGE_JUDGE_MAX_RETRIES``    retries after a timeout, dropped connection, 408/409/429
                                   or 5xx, with exponential backoff and jitter (4)
``MEDBRIDGE_JUDGE_FORMAT_RETRIES`` re-asks after an off-format reply (1)
``MEDBRIDGE_JUDGE_BACKOFF``        first backoff in seconds; doubles per retry, capped at 30 (1)
``MEDBRIDGE_JUDGE_CONCURRENCY``    requests in flight at most (8)
``MEDBRIDGE_JUDGE_MAX_TOKENS``     reply length limit (32: a verdict is ~8 tokens)
``MEDBRIDGE_JUDGE_STRUCTURED``     ``1``: also send a JSON-schema ``response_format`` (vLLM
                                   then guarantees the format) (0)
``MEDBRIDGE_JUDGE_MAX_ERROR_RATE`` a task whose judge error rate passes this fails the run (0.05)
``MEDBRIDGE_JUDGE_CACHE``          verdict cache file, or ``off`` (``$MEDBRIDGE_CACHE/judge.sqlite``)
=================================  =======================================================

The API key itself is read only from the named variable, only when the client is built, and is
never stored in settings, records, logs or the cache.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError

MODES = ("off", "fallback", "all")
DEFAULT_KEY_ENV = "MEDBRIDGE_JUDGE_API_KEY"
DUMMY_KEY = "EMPTY"

ENV = {
    "base_url": "MEDBRIDGE_JUDGE_BASE_URL",
    "model": "MEDBRIDGE_JUDGE_MODEL",
    "api_key_env": "MEDBRIDGE_JUDGE_API_KEY_ENV",
    "mode": "MEDBRIDGE_JUDGE_MODE",
    "timeout": "MEDBRIDGE_JUDGE_TIMEOUT",
    "max_retries": "MEDBRIDGE_JUDGE_MAX_RETRIES",
    "format_retries": "MEDBRIDGE_JUDGE_FORMAT_RETRIES",
    "backoff": "MEDBRIDGE_JUDGE_BACKOFF",
    "concurrency": "MEDBRIDGE_JUDGE_CONCURRENCY",
    "max_tokens": "MEDBRIDGE_JUDGE_MAX_TOKENS",
    "structured": "MEDBRIDGE_JUDGE_STRUCTURED",
    "max_error_rate": "MEDBRIDGE_JUDGE_MAX_ERROR_RATE",
    "cache": "MEDBRIDGE_JUDGE_CACHE",
}


@dataclass(frozen=True)
class JudgeSettings:
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = DEFAULT_KEY_ENV
    timeout: float = 60.0
    max_retries: int = 4
    format_retries: int = 1
    backoff: float = 1.0
    max_backoff: float = 30.0
    concurrency: int = 8
    max_tokens: int = 32
    structured: bool = False
    max_error_rate: float = 0.05
    cache: str | None = None  # a path; "off" disables; None: the default path

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    def require(self, why: str) -> JudgeSettings:
        if not self.configured:
            missing = " and ".join(ENV[k] for k in ("base_url", "model") if not getattr(self, k))
            raise ConfigError(f"{why} needs a judge, but {missing} is not set", fix="point medbridge at an OpenAI-compatible server: --judge-url http://HOST:8000/v1 --judge-model NAME (or set those variables)")
        return self

    def api_key(self) -> str:
        """The key from the named variable (a dummy key for local servers when the default
        variable is unset); a variable named explicitly must exist."""
        value = os.environ.get(self.api_key_env)
        if value:
            return value
        if self.api_key_env != DEFAULT_KEY_ENV:
            raise ConfigError(f"{ENV['api_key_env']} names {self.api_key_env}, which is not set", fix=f"export {self.api_key_env}=... or unset {ENV['api_key_env']} for a local server")
        return DUMMY_KEY

    def public(self) -> dict:
        """What records show: no key, no credentials inside the URL."""
        out = asdict(self)
        out["base_url"] = public_url(self.base_url)
        return out


def public_url(url: str | None) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts._replace(query="", fragment=""))


def check_mode(mode: str, where: str) -> str:
    value = str(mode).strip().lower()
    if value not in MODES:
        close = difflib.get_close_matches(value, MODES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown judge mode {mode!r}", where=where, fix=f"{hint}use one of: {', '.join(MODES)}")
    return value


def _number(name: str, cast, low: float, high: float | None = None):
    raw = os.environ.get(ENV[name])
    if raw is None or raw == "":
        return None
    try:
        value = cast(raw)
    except ValueError:
        raise ConfigError(f"{ENV[name]}={raw!r} is not a number", fix=f"set {ENV[name]} to a number") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{ENV[name]}={raw!r} is out of range", fix=f"use a value {bound}")
    return value


def from_env() -> JudgeSettings:
    """The settings the environment describes (defaults where a variable is unset)."""
    values = {
        "base_url": os.environ.get(ENV["base_url"]) or None,
        "model": os.environ.get(ENV["model"]) or None,
        "api_key_env": os.environ.get(ENV["api_key_env"]) or DEFAULT_KEY_ENV,
        "timeout": _number("timeout", float, 0.001),
        "max_retries": _number("max_retries", int, 0, 20),
        "format_retries": _number("format_retries", int, 0, 5),
        "backoff": _number("backoff", float, 0.0),
        "concurrency": _number("concurrency", int, 1, 512),
        "max_tokens": _number("max_tokens", int, 1),
        "max_error_rate": _number("max_error_rate", float, 0.0, 1.0),
        "cache": os.environ.get(ENV["cache"]) or None,
    }
    structured = os.environ.get(ENV["structured"], "").strip().lower()
    if structured:
        if structured not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"{ENV['structured']}={structured!r} is not a switch", fix="use 1 or 0")
        values["structured"] = structured in ("1", "true", "yes", "on")
    return JudgeSettings(**{k: v for k, v in values.items() if v is not None})


def run_mode() -> str | None:
    """The mode set for the whole run (``MEDBRIDGE_JUDGE_MODE``), or None."""
    raw = os.environ.get(ENV["mode"])
    return check_mode(raw, ENV["mode"]) if raw else None
