"""``medbridge_openai``: an OpenAI-compatible chat server (e.g. ``vllm serve``), K samples per
question from ONE request with ``n = K``.

lmms-eval's ``openai`` backend rejects ``n != 1`` and sends K requests; vLLM's server honours
``n`` and shares the prompt's prefill. Servers that ignore ``n`` (``transformers serve``
returns one choice) are noticed: the missing samples are requested again, each follow-up with
its own seed derived from the question's, until K came back, so K samples always return. A
request that still fails after the retries raises (it is never turned into a scored answer
text). Servers that split ``<think>`` reasoning into ``reasoning_content`` (vLLM's reasoning
parsers, ``transformers serve``) get it put back in front of the answer, so the grader reads
what the model wrote.

model_args: ``model`` (the served model name), ``base_url`` (default ``$OPENAI_BASE_URL`` or
``$OPENAI_API_BASE``), ``api_key`` (default ``$OPENAI_API_KEY``, else "EMPTY"), ``timeout``,
``max_retries``, ``seed``, ``cache`` / ``cache_path`` / ``fresh``, ``max_new_tokens``,
``system_prompt``, ``batch_size`` (greedy questions in flight).
"""

from __future__ import annotations

import os

from ..data_url import image_data_url
from ..errors import ConfigError
from .base import KSampleBackend

MAX_FOLLOW_UPS = 64  # requests per question beyond the first, for servers that return fewer than n


def completion_text(message) -> str:
    """The model's whole completion: reasoning a server split off (``reasoning_content``) goes
    back in ``<think>`` tags in front of the answer."""
    content = message.content or ""
    extra = getattr(message, "model_extra", None) or {}
    reasoning = next((extra[k] for k in ("reasoning_content", "reasoning") if isinstance(extra.get(k), str) and extra[k]), None)
    return f"<think>{reasoning}</think>{content}" if reasoning else content


class MedbridgeOpenAI(KSampleBackend):
    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 600,
        max_retries: int = 3,
        seed: int = 0,
        batch_size: int = 1,
        cache: str | bool = True,
        cache_path: str | None = None,
        fresh: bool = False,
        max_new_tokens: int = 2048,
        system_prompt: str | None = None,
        device: str | None = None,  # lmms-eval passes --device to every model; the server owns the device
        **unknown,
    ) -> None:
        if unknown:
            raise TypeError(f"medbridge_openai: unknown model_args {sorted(unknown)}")
        super().__init__(seed=seed, batch_size=batch_size, cache=cache, cache_path=cache_path, fresh=fresh, max_new_tokens=max_new_tokens)
        from openai import OpenAI

        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
        if not base_url:
            raise ConfigError("medbridge_openai needs the server address", fix="pass model_args base_url=http://host:8000/v1 or set OPENAI_BASE_URL")
        self.model_name = model
        self.system_prompt = system_prompt
        self.client = OpenAI(base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY", timeout=float(timeout), max_retries=int(max_retries))
        # The served model's identity: its name at that address (the server owns the weights).
        self.fingerprint = f"openai:{base_url}#{model}"
        self.engine_settings = {"image_encoding": "png"}

    def prepare(self, messages):
        hf_messages, _ = self.chat_parts(messages)
        api_messages = []
        for message in hf_messages:
            parts = []
            for part in message["content"]:
                if part["type"] == "text":
                    parts.append({"type": "text", "text": part["text"]})
                elif part["type"] == "image":
                    parts.append({"type": "image_url", "image_url": {"url": image_data_url(part["image"])}})
            api_messages.append({"role": message["role"], "content": parts})
        return api_messages

    def _call(self, messages, gen: dict, n: int, seed: int | None) -> list[tuple[str, int]]:
        """n completions; asks again for what a server that ignores ``n`` left out."""
        samples = self._request(messages, gen, n, seed)
        follow_ups = 0
        while len(samples) < n:
            if follow_ups >= MAX_FOLLOW_UPS:
                raise ConfigError(f"the server returned {len(samples)} of {n} completions after {follow_ups + 1} requests", where=str(self.client.base_url), fix="check the server's logs")
            follow_ups += 1
            # a new seed per follow-up: a server that honours seeds would repeat the first sample
            more = self._request(messages, gen, n - len(samples), None if seed is None else (seed + follow_ups) % (2**31))
            if not more:
                raise ConfigError(f"the server returned no completion (asked for {n - len(samples)})", where=str(self.client.base_url), fix="check the server's logs")
            samples.extend(more)
        return samples[:n]

    def _request(self, messages, gen: dict, n: int, seed: int | None) -> list[tuple[str, int]]:
        from openai import OpenAIError

        kwargs = dict(model=self.model_name, messages=messages, n=n, max_tokens=int(gen["max_new_tokens"]))
        if gen["do_sample"]:
            kwargs.update(temperature=gen["temperature"], top_p=float(gen.get("top_p") or 1.0), seed=seed)
            if gen.get("top_k"):
                kwargs["extra_body"] = {"top_k": int(gen["top_k"])}  # vLLM's server accepts it
        else:
            kwargs.update(temperature=0.0)
        if gen["until"]:
            kwargs["stop"] = gen["until"]
        try:
            response = self.client.chat.completions.create(**kwargs)
        except OpenAIError as exc:
            raise ConfigError(f"the OpenAI-compatible server failed ({type(exc).__name__}: {exc})", where=str(self.client.base_url), fix="check that the server is up and serves this model name") from exc
        choices = sorted(response.choices, key=lambda c: c.index)[:n]
        per_choice = (response.usage.completion_tokens // len(choices)) if response.usage and choices else 0
        return [(completion_text(c.message), per_choice) for c in choices]

    def sample(self, prepared, n, gen, seed, first=0):
        return self._call(prepared, gen, n, seed % (2**31))

    def greedy(self, prepared, gen):
        return [self._call(messages, gen, 1, None)[0] for messages in prepared]
