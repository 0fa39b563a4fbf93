"""``medbridge_openai``: an OpenAI-compatible chat server (e.g. ``vllm serve``), K samples per
question from ONE request with ``n = K``.

lmms-eval's ``openai`` backend rejects ``n != 1`` and sends K requests; vLLM's server honours
``n`` and shares the prompt's prefill. A request that still fails after the retries raises
(it is never turned into a scored answer text).

model_args: ``model`` (the served model name), ``base_url`` (default ``$OPENAI_BASE_URL`` or
``$OPENAI_API_BASE``), ``api_key`` (default ``$OPENAI_API_KEY``, else "EMPTY"), ``timeout``,
``max_retries``, ``seed``, ``cache`` / ``cache_path`` / ``fresh``, ``max_new_tokens``,
``system_prompt``, ``batch_size`` (greedy questions in flight).
"""

from __future__ import annotations

import base64
import io
import os

from ..errors import ConfigError
from .base import KSampleBackend
from ..sampling import image_identity


def _data_url(image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


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

    def prepare(self, messages):
        hf_messages, images = self.chat_parts(messages)
        api_messages = []
        for message in hf_messages:
            parts = []
            for part in message["content"]:
                if part["type"] == "text":
                    parts.append({"type": "text", "text": part["text"]})
                elif part["type"] == "image":
                    parts.append({"type": "image_url", "image_url": {"url": _data_url(part["image"])}})
            api_messages.append({"role": message["role"], "content": parts})
        identity = repr([(m["role"], [p.get("text", "") for p in m["content"]]) for m in api_messages]).encode()
        return api_messages, identity + image_identity(images)

    def _call(self, messages, gen: dict, n: int, seed: int | None) -> list[tuple[str, int]]:
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
        choices = sorted(response.choices, key=lambda c: c.index)
        if len(choices) != n:
            raise ConfigError(f"the server returned {len(choices)} choices for n={n}", where=str(self.client.base_url), fix="use a server that honours n (vLLM does), or repeats with the stock openai backend")
        per_choice = (response.usage.completion_tokens // n) if response.usage else 0
        return [(c.message.content or "", per_choice) for c in choices]

    def sample(self, prepared, n, gen, seed):
        return self._call(prepared, gen, n, seed % (2**31))

    def greedy(self, prepared, gen):
        return [self._call(messages, gen, 1, None)[0] for messages in prepared]
