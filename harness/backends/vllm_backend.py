"""``medbridge_vllm``: the K samples of a question as ONE vLLM request, ``SamplingParams(n=K)``.

lmms-eval's own vLLM backend rejects ``n > 1`` (so ``repeats: K`` becomes K requests). Here
the question's prompt and images are sent once and vLLM returns K completions; prefix caching
is on, so the prompt's KV blocks are shared. vLLM is an optional extra (GPU only): this module
imports without it and says how to install it when the backend is asked for.

model_args: ``pretrained``, ``tensor_parallel_size``, ``max_model_len``,
``limit_mm_per_prompt`` (images per prompt, default 8), ``gpu_memory_utilization``,
``dtype``, ``seed``, ``cache`` / ``cache_path`` / ``fresh``, ``max_new_tokens``,
``system_prompt``, ``min_pixels`` / ``max_pixels`` (passed to the processor).
"""

from __future__ import annotations

from ..errors import ConfigError
from ..fingerprint import check_checkpoint, checkpoint_fingerprint
from .base import KSampleBackend


def _import_vllm():
    try:
        import vllm
    except ImportError as exc:
        raise ConfigError("the medbridge_vllm backend needs vLLM, which is not installed", fix='pip install "medbridge[vllm]" (GPU machines), or use --model medbridge_hf') from exc
    return vllm


class MedbridgeVLLM(KSampleBackend):
    def __init__(
        self,
        pretrained: str,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        limit_mm_per_prompt: int = 8,
        gpu_memory_utilization: float = 0.9,
        dtype: str = "auto",
        seed: int = 0,
        batch_size: int = 64,
        cache: str | bool = True,
        cache_path: str | None = None,
        fresh: bool = False,
        max_new_tokens: int = 2048,
        system_prompt: str | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        engine=None,
        processor=None,
        sampling_params=None,
        **unknown,
    ) -> None:
        if unknown:
            raise TypeError(f"medbridge_vllm: unknown model_args {sorted(unknown)}")
        super().__init__(seed=seed, batch_size=batch_size, cache=cache, cache_path=cache_path, fresh=fresh, max_new_tokens=max_new_tokens)
        self.system_prompt = system_prompt
        pixels = {"min_pixels": min_pixels, "max_pixels": max_pixels}
        self.engine_settings = {"dtype": str(dtype), **{k: int(v) for k, v in pixels.items() if v is not None}}  # part of the cache key
        if engine is None:  # the real path; tests pass an engine object in
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                _import_vllm()  # raises the install hint now, not at the first question
            ref = check_checkpoint(pretrained)
            self.fingerprint = checkpoint_fingerprint(ref)
            mm_kwargs = {k: int(v) for k, v in pixels.items() if v is not None}
            self._engine_args = dict(
                model=ref,
                tensor_parallel_size=int(tensor_parallel_size),
                max_model_len=int(max_model_len) if max_model_len else None,
                limit_mm_per_prompt={"image": int(limit_mm_per_prompt)},
                gpu_memory_utilization=float(gpu_memory_utilization),
                dtype=dtype,
                seed=int(seed),
                enable_prefix_caching=True,
                mm_processor_kwargs=mm_kwargs or None,
            )
        self._pretrained = pretrained
        self.engine, self.processor = engine, processor
        # vllm.SamplingParams unless a test passes a stand-in; all sampled questions of a chunk
        # go to vLLM together so its scheduler batches them (each keeps its own seed).
        self._sampling_params = sampling_params or (lambda **kw: _import_vllm().SamplingParams(**kw))
        self.sample_batch_size = max(1, int(batch_size))

    def load(self) -> None:
        """Start the vLLM engine and load the processor (once), on the first question the cache
        cannot answer: a rerun on a full cache starts no engine (tens of seconds on a GPU)."""
        if self.engine is None:
            self.engine = _import_vllm().LLM(**self._engine_args)
        if self.processor is None:
            from transformers import AutoProcessor

            self.processor = AutoProcessor.from_pretrained(check_checkpoint(self._pretrained))

    def prepare(self, messages):
        self.load()
        hf_messages, images = self.chat_parts(messages)
        prompt = self.processor.apply_chat_template(hf_messages, tokenize=False, add_generation_prompt=True)
        request = {"prompt": prompt}
        if images:
            request["multi_modal_data"] = {"image": images if len(images) > 1 else images[0]}
        return request

    def _params(self, gen: dict, n: int, seed: int | None):
        cls = self._sampling_params
        if gen["do_sample"]:
            top_k = int(gen.get("top_k") or 0)
            return cls(n=n, temperature=gen["temperature"], top_p=float(gen.get("top_p") or 1.0), top_k=top_k if top_k > 0 else -1, max_tokens=int(gen["max_new_tokens"]), seed=seed, stop=gen["until"] or None)
        return cls(n=1, temperature=0.0, max_tokens=int(gen["max_new_tokens"]), stop=gen["until"] or None)

    @staticmethod
    def _completions(output) -> list[tuple[str, int]]:
        return [(c.text, len(c.token_ids)) for c in output.outputs]

    def sample(self, prepared, n, gen, seed, first=0):
        return self.sample_many([(prepared, n, seed, first)], gen)[0]

    def sample_many(self, batch, gen):
        self.load()
        params = [self._params(gen, n, seed) for _, n, seed, _ in batch]
        outputs = self.engine.generate([p for p, _, _, _ in batch], params, use_tqdm=False)
        return [self._completions(o) for o in outputs]

    def greedy(self, prepared, gen):
        self.load()
        outputs = self.engine.generate(list(prepared), self._params(gen, 1, None), use_tqdm=False)
        return [self._completions(o)[0] for o in outputs]
