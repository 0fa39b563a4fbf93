"""The judge client: any OpenAI-compatible chat server through the ``openai`` package.

Temperature 0; a bounded thread pool keeps at most ``concurrency`` requests in flight for the
whole process (lmms-eval scores documents in several threads, and each document's distinct
answers are judged in parallel). Transport failures (timeout, dropped connection, 408/409/429,
5xx, a malformed response body) are retried ``max_retries`` times with exponential backoff and
jitter; other 4xx are not retried (a wrong key or model name does not heal). An off-format
reply is answered once with ``judge_reminder.jinja`` (below the reply, so a temperature-0 judge
is not asked the identical question again). What still fails is a ``judge_error`` with its
kind; it is counted by the caller and never turned into a verdict.

Retries are written here rather than left to the ``openai`` client so that every attempt is
counted in the usage and its backoff bounds are testable; the client's own retries are off.
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from loguru import logger

from ..data_url import image_data_url
from .cache import VerdictCache, verdict_key
from .prompts import REMINDER_TEMPLATE, JudgePrompt, load_prompt
from .settings import JudgeSettings, public_url
from .verdict import parse_verdict

JUDGE_ERROR = "judge_error"
RETRY_STATUS = (408, 409, 429)
REPLY_KEEP = 200  # characters of an off-format reply kept for the sample log
LOGGED_ERRORS = 5

VERDICT_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"verdict": {"type": "string", "enum": ["correct", "incorrect"]}},
            "required": ["verdict"],
            "additionalProperties": False,
        },
    },
}


@dataclass
class JudgeItem:
    """One question to put to the judge. ``key`` holds what identifies it for the cache and for
    deduplication (question, options, reference, the normalised answer); ``context`` fills the
    template; ``images`` are sent only when the template needs them."""

    prompt: JudgePrompt
    context: dict
    key: dict
    images: list = field(default_factory=list)


@dataclass
class Verdict:
    status: str  # "correct" | "incorrect" | "judge_error"
    error: str | None = None  # timeout, connection, http_500, off_format, malformed_response, ...
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit: bool = False
    reply: str | None = None  # the judge's last reply when it was off format

    @property
    def ok(self) -> bool:
        return self.status != JUDGE_ERROR


@dataclass
class Usage:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    judged: int = 0  # distinct items that needed a verdict (after deduplication)
    errors: int = 0

    def add(self, verdict: Verdict) -> None:
        self.judged += 1
        self.requests += verdict.requests
        self.prompt_tokens += verdict.prompt_tokens
        self.completion_tokens += verdict.completion_tokens
        self.cache_hits += int(verdict.cache_hit)
        self.errors += int(not verdict.ok)


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before retry number ``retry`` (0-based): ``min(cap, base·2^retry)`` times a jitter
    factor in [0.5, 1) ("equal jitter": spread out, never under half the exponential step)."""
    return min(cap, base * (2**retry)) * rng.uniform(0.5, 1.0)


class JudgeClient:
    def __init__(self, settings: JudgeSettings, *, cache: VerdictCache | None | bool = True, sleep=time.sleep, rng: random.Random | None = None):
        from openai import OpenAI

        settings.require("judging")
        self.settings = settings
        self._openai = OpenAI(base_url=settings.base_url, api_key=settings.api_key(), timeout=settings.timeout, max_retries=0)
        if cache is True:
            cache = None if str(settings.cache).lower() == "off" else VerdictCache(settings.cache)
        self.cache = cache or None
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="medbridge-judge")
        self._lock = threading.Lock()
        self._errors_logged = 0
        self.usage = Usage()  # everything this client did, for the run summary

    # ---- public -------------------------------------------------------------------------
    def item_key(self, item: JudgeItem) -> str:
        images = [hashlib.sha256(image_data_url(i).encode()).hexdigest() for i in item.images] if item.prompt.needs_image else []
        return verdict_key(judge_model=self.settings.model, template=item.prompt.sha256, item=item.key, images=images)

    def judge(self, items: list[JudgeItem]) -> tuple[list[Verdict], Usage]:
        """A verdict per item; identical items (same key) are judged once and share it. The
        usage counts each distinct item once."""
        keys = [self.item_key(item) for item in items]
        distinct: dict[str, JudgeItem] = {}
        for key, item in zip(keys, items):
            distinct.setdefault(key, item)
        found: dict[str, Verdict] = {}
        asked = {}
        for key, item in distinct.items():
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                found[key] = Verdict(cached, cache_hit=True)
            else:
                asked[key] = self._pool.submit(self._ask, item)
        for key, future in asked.items():
            verdict = found[key] = future.result()
            if verdict.ok and self.cache is not None:
                self.cache.put(key, judge_model=self.settings.model, template=distinct[key].prompt.id, verdict=verdict.status)
        usage = Usage()
        for key in distinct:
            usage.add(found[key])
        with self._lock:
            for key in distinct:
                self.usage.add(found[key])
        return [found[key] for key in keys], usage

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self.cache is not None:
            self.cache.close()

    # ---- one item -----------------------------------------------------------------------
    def _messages(self, item: JudgeItem) -> list[dict]:
        text = item.prompt.render(**item.context)
        if not item.prompt.needs_image:
            return [{"role": "user", "content": text}]
        parts = [{"type": "image_url", "image_url": {"url": image_data_url(image)}} for image in item.images]
        return [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}]

    def _ask(self, item: JudgeItem) -> Verdict:
        messages = self._messages(item)
        verdict = Verdict(JUDGE_ERROR)
        retries_left, reminders_left, retry = self.settings.max_retries, self.settings.format_retries, 0
        while True:
            verdict.requests += 1
            reply, error, retryable = self._request(messages, verdict)
            if error is None:
                parsed = parse_verdict(reply)
                if parsed is not None:
                    verdict.status, verdict.error, verdict.reply = parsed, None, None
                    return verdict
                verdict.error, verdict.reply = "off_format", (reply or "")[:REPLY_KEEP]
                if reminders_left > 0:
                    reminders_left -= 1
                    messages = [*messages, {"role": "assistant", "content": reply or ""}, {"role": "user", "content": load_prompt(REMINDER_TEMPLATE).render()}]
                    continue
                break
            verdict.error = error
            if not retryable or retries_left <= 0:
                break
            self._sleep(backoff_delay(retry, self.settings.backoff, self.settings.max_backoff, self._rng))
            retries_left -= 1
            retry += 1
        self._log_error(verdict)
        return verdict

    def _log_error(self, verdict: Verdict) -> None:
        """The first few judge errors are logged; all are counted (the run summary has the totals)."""
        with self._lock:
            self._errors_logged += 1
            n = self._errors_logged
        if n <= LOGGED_ERRORS:
            more = "; further judge errors are counted, not logged" if n == LOGGED_ERRORS else ""
            logger.warning(f"medbridge judge: {verdict.error} after {verdict.requests} request(s) to {public_url(self.settings.base_url)} ({self.settings.model}); counted as a judge error{more}")

    def _request(self, messages: list[dict], verdict: Verdict) -> tuple[str | None, str | None, bool]:
        """One request: (reply text, error kind, retryable). Adds the tokens to ``verdict``."""
        import openai

        kwargs = {"model": self.settings.model, "messages": messages, "temperature": 0.0, "max_tokens": self.settings.max_tokens}
        if self.settings.structured:
            kwargs["response_format"] = VERDICT_SCHEMA
        try:
            response = self._openai.chat.completions.create(**kwargs)
        except openai.APITimeoutError:
            return None, "timeout", True
        except openai.APIConnectionError:
            return None, "connection", True
        except openai.APIStatusError as exc:
            status = exc.status_code
            return None, f"http_{status}", status in RETRY_STATUS or status >= 500
        except (openai.APIResponseValidationError, ValueError):
            return None, "malformed_response", True
        usage = getattr(response, "usage", None)
        if usage is not None:
            verdict.prompt_tokens += int(usage.prompt_tokens or 0)
            verdict.completion_tokens += int(usage.completion_tokens or 0)
            _log_lmms_usage(self.settings.model, int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0))
        choices = getattr(response, "choices", None)
        if not choices or choices[0].message is None:
            return None, "malformed_response", True
        return choices[0].message.content, None, False


def _log_lmms_usage(model: str, prompt_tokens: int, completion_tokens: int) -> None:
    """Judge tokens also go to lmms-eval's own usage summary (results.json ``usage``) when the
    judge runs inside lmms-eval (importing lmms-eval just for this would cost seconds)."""
    usage_metrics = sys.modules.get("lmms_eval.models.model_utils.usage_metrics")
    if usage_metrics is not None:
        usage_metrics.log_usage(model_name=model, input_tokens=prompt_tokens, output_tokens=completion_tokens, source="judge")


_clients: dict[JudgeSettings, JudgeClient] = {}
_clients_lock = threading.Lock()


def shared_client(settings: JudgeSettings) -> JudgeClient:
    """One client per settings in a process (lmms-eval calls the hooks once per document)."""
    with _clients_lock:
        client = _clients.get(settings)
        if client is None:
            client = _clients[settings] = JudgeClient(settings)
        return client


def all_clients() -> list[JudgeClient]:
    with _clients_lock:
        return list(_clients.values())
