"""``medbridge_hf``: any Hugging Face VLM with a chat template, K samples in one ``generate``.

Loaded with ``AutoModelForImageTextToText`` + ``AutoProcessor`` (Qwen2-VL, Qwen2.5-VL, LLaVA
and other image-text-to-text models), on CPU or GPU. model_args: ``pretrained``, ``device``,
``device_map``, ``dtype`` (auto | bfloat16 | float16 | float32), ``attn_implementation``,
``min_pixels`` / ``max_pixels`` (Qwen processors), ``batch_size`` (greedy questions per call),
``seed``, ``cache`` / ``cache_path`` / ``fresh`` (see ``backends/cache.py``),
``max_new_tokens`` (default when a task sets none), ``system_prompt``.

The K samples of a question come from ONE generation: the prompt is tokenised and the images
preprocessed once, the prompt (vision tower included) is prefilled ONCE, its KV cache is
expanded to K rows, and the K continuations decode as one batch (``prefill_once``, default).
With the same seed this gives exactly the samples of ``generate(num_return_sequences=K)``,
which prefills K copies; models whose cache cannot be expanded fall back to that (logged once;
``prefill_once=false`` forces it).
"""

from __future__ import annotations

import hashlib
import inspect
import os

import torch
from loguru import logger

from ..errors import CheckpointError
from ..fingerprint import check_checkpoint, checkpoint_fingerprint
from .base import KSampleBackend

_DTYPES = {"auto": "auto", "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}


def image_identity(images) -> bytes:
    h = hashlib.sha256()
    for image in images:
        h.update(f"{image.mode}:{image.size}".encode())
        h.update(image.tobytes())
    return h.digest()


class MedbridgeHF(KSampleBackend):
    def __init__(
        self,
        pretrained: str,
        device: str | None = None,
        device_map: str | None = None,
        dtype: str = "auto",
        attn_implementation: str | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        batch_size: int = 1,
        seed: int = 0,
        cache: str | bool = True,
        cache_path: str | None = None,
        fresh: bool = False,
        max_new_tokens: int = 2048,
        system_prompt: str | None = None,
        trust_remote_code: bool = False,
        prefill_once: bool = True,
        **unknown,
    ) -> None:
        if unknown:
            raise TypeError(f"medbridge_hf: unknown model_args {sorted(unknown)}")
        super().__init__(seed=seed, batch_size=batch_size, cache=cache, cache_path=cache_path, fresh=fresh, max_new_tokens=max_new_tokens)
        from accelerate import Accelerator
        from transformers import AutoModelForImageTextToText, AutoProcessor

        # Data parallel, one full model per process. torchrun (CPU: gloo; GPU: nccl) starts the
        # process group before lmms-eval builds the model; `accelerate launch` (GPUs) through
        # its Accelerator. lmms-eval shards the questions by this rank / world size.
        import torch.distributed as dist

        self.accelerator = Accelerator()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            self._rank, self._world_size = dist.get_rank(), dist.get_world_size()
            local = int(os.environ.get("LOCAL_RANK", self._rank))
            use_cuda = torch.cuda.is_available() and str(device or "cuda").startswith("cuda")
            self._device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
            device_map = str(self._device)
        elif self.accelerator.num_processes > 1:
            self._device = self.accelerator.device
            device_map = str(self._device)
            self._rank, self._world_size = self.accelerator.process_index, self.accelerator.num_processes
        else:
            self._device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            device_map = device_map or str(self._device)
        if dtype not in _DTYPES:
            raise ValueError(f"medbridge_hf: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        ref = check_checkpoint(pretrained)
        kwargs = {"dtype": _DTYPES[dtype], "device_map": device_map, "trust_remote_code": trust_remote_code}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        try:
            self.model = AutoModelForImageTextToText.from_pretrained(ref, **kwargs).eval()
        except ValueError as exc:
            raise CheckpointError(f"{pretrained} is not an image-text-to-text model ({exc})", fix="medbridge_hf loads VLMs through AutoModelForImageTextToText") from exc
        proc_kwargs = {k: v for k, v in {"min_pixels": min_pixels, "max_pixels": max_pixels}.items() if v is not None}
        self.processor = AutoProcessor.from_pretrained(ref, trust_remote_code=trust_remote_code, **{k: int(v) for k, v in proc_kwargs.items()})
        self.tokenizer = self.processor.tokenizer
        self.system_prompt = system_prompt
        self.prefill_once = str(prefill_once).lower() not in ("0", "false", "no", "off")
        self.fingerprint = checkpoint_fingerprint(ref)
        if self.rank == 0:
            logger.info(f"medbridge_hf: {pretrained} on {self._device} ({self.fingerprint[:19]}…), {self.world_size} process(es)")

    @property
    def device(self):
        return self._device

    def prepare(self, messages):
        hf_messages, images = self.chat_parts(messages)
        text = self.processor.apply_chat_template(hf_messages, tokenize=False, add_generation_prompt=True)
        return (text, images), text.encode() + image_identity(images)

    def _encode(self, prepared: list):
        texts = [t for t, _ in prepared]
        images = [img for _, imgs in prepared for img in imgs] or None
        kwargs = {"padding": True, "return_tensors": "pt"}
        if len(texts) > 1:
            kwargs["padding_side"] = "left"  # decoder-only batches pad on the left
        return self.processor(text=texts, images=images, **kwargs).to(self._device)

    def _generate(self, inputs, gen: dict, **extra):
        kwargs = dict(max_new_tokens=int(gen["max_new_tokens"]), pad_token_id=self.tokenizer.pad_token_id, **extra)
        if gen["do_sample"]:
            # top_k is always passed: Qwen checkpoints ship top_k=1 in generation_config.json,
            # which would silently turn sampling into greedy decoding. 0 disables it.
            kwargs.update(do_sample=True, temperature=gen["temperature"], top_p=float(gen.get("top_p") or 1.0), top_k=int(gen.get("top_k") or 0))
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if gen.get("repetition_penalty"):
            kwargs["repetition_penalty"] = float(gen["repetition_penalty"])
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        new = out[:, inputs["input_ids"].shape[1]:]
        eos = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id} - {None}
        texts = self.processor.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        counts = [int(sum(1 for t in row.tolist() if t not in eos)) for row in new]
        return list(zip(texts, counts))

    def _shared_prefix(self, inputs, n: int, gen: dict):
        """Prefill all but the last prompt token once, expand the cache to n rows, and let
        ``generate`` continue from it: it feeds the last (text) token and samples n rows."""
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        if int(ids[0, -1]) in {getattr(self.model.config, k, None) for k in ("image_token_id", "image_token_index")}:
            raise ValueError("the prompt ends with an image token")
        prefix = {k: (v[:, :-1] if k in ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids") else v) for k, v in inputs.items()}
        with torch.inference_mode():
            out = self.model(**prefix, use_cache=True)
        cache = getattr(out, "cache", None) or out.past_key_values
        cache.batch_repeat_interleave(n)
        # transformers 5 renamed past_key_values to cache (the old name warns until 6.0)
        name = "cache" if "cache" in inspect.signature(type(self.model).forward).parameters else "past_key_values"
        return self._generate({"input_ids": ids.repeat(n, 1), "attention_mask": mask.repeat(n, 1)}, gen, **{name: cache})

    def sample(self, prepared, n, gen, seed):
        inputs = self._encode([prepared])
        torch.manual_seed(seed)  # seeds CPU and every CUDA device; the prefill draws nothing
        if self.prefill_once and n > 1:
            try:
                return self._shared_prefix(inputs, n, gen)
            except Exception as exc:  # model-specific cache/position bookkeeping: use the plain path
                logger.warning(f"medbridge_hf: shared-prefill sampling unavailable for this model ({type(exc).__name__}: {exc}); using num_return_sequences")
                self.prefill_once = False
                torch.manual_seed(seed)
        return self._generate(inputs, gen, num_return_sequences=n)

    def greedy(self, prepared, gen):
        return self._generate(self._encode(prepared), gen)
