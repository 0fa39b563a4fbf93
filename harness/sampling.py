"""K samples (or one greedy answer) per question from a loaded Hugging Face VLM: the one
sampling path evaluation (``backends/hf.py``, lmms-eval's ``medbridge_hf``) and training's
Pass@K monitor share. No lmms-eval here: it takes a model, its processor and chat messages.

The K samples of a question come from ONE generation: the prompt is tokenised and the images
preprocessed once, the prompt (vision tower included) is prefilled ONCE, its KV cache is
expanded to K rows, and the K continuations decode as one batch (``prefill_once``, default).
With the same seed this gives exactly the samples of ``generate(num_return_sequences=K)``,
which prefills K copies; models whose cache cannot be expanded fall back to that (logged once).

Each question's samples are seeded with ``question_seed`` (a hash of the run seed and the
question), so they do not depend on what ran before or alongside. With ``row_seeds`` (default)
sample i draws from its own generator seeded with ``sample_seed(question seed, i)``
(``row_sampling.py``), so it does not depend on K either: the first 8 of 16 samples are exactly
an 8-sample run, and samples i..n-1 can be drawn alone (``first``) to extend a cached series.
``row_seeds=False`` draws every row from one generator seeded per question, as ``generate``
does by itself.
"""

from __future__ import annotations

import hashlib
import inspect

import torch
from loguru import logger

from .row_sampling import neutral_sampling, row_seeded_processors

# Generation settings that decide a sample (anything else in gen_kwargs is ignored).
GEN_KEYS = ("temperature", "top_p", "top_k", "max_new_tokens", "do_sample", "until", "repetition_penalty", "num_beams")


def generation_settings(gen_kwargs: dict, default_max_new_tokens: int) -> dict:
    gen = {k: gen_kwargs[k] for k in GEN_KEYS if k in gen_kwargs}
    gen.setdefault("max_new_tokens", default_max_new_tokens)
    temperature = float(gen.get("temperature") or 0.0)
    gen["temperature"] = temperature
    gen["do_sample"] = temperature > 0  # like lmms-eval's own backends: temperature decides
    until = gen.get("until") or []
    gen["until"] = [until] if isinstance(until, str) else list(until)
    return gen


def question_seed(seed: int, task: str, split: str, doc_id) -> int:
    digest = hashlib.sha256(f"{seed}:{task}:{split}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def sample_seed(question: int, index: int) -> int:
    """The seed of sample ``index`` of a question (row-seeded sampling)."""
    digest = hashlib.sha256(f"{question}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def truncate_at_stop(text: str, until: list[str]) -> str:
    cut = min((text.find(s) for s in until if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


def image_identity(images) -> bytes:
    h = hashlib.sha256()
    for image in images:
        h.update(f"{image.mode}:{image.size}".encode())
        h.update(image.tobytes())
    return h.digest()


class HFSampler:
    """Greedy and K-sample generation for one loaded model + processor on ``device``."""

    def __init__(self, model, processor, device, prefill_once: bool = True, row_seeds: bool = True):
        self.model, self.processor, self._device = model, processor, device
        self.tokenizer = processor.tokenizer
        self.prefill_once = prefill_once
        self.row_seeds = row_seeds

    def prepare(self, hf_messages: list[dict], images: list):
        """Engine-ready input for one question (chat text + RGB images), and its identity bytes."""
        text = self.processor.apply_chat_template(hf_messages, tokenize=False, add_generation_prompt=True)
        return (text, images), text.encode() + image_identity(images)

    def _encode(self, prepared: list):
        texts = [t for t, _ in prepared]
        images = [img for _, imgs in prepared for img in imgs] or None
        kwargs = {"padding": True, "return_tensors": "pt"}
        if len(texts) > 1:
            kwargs["padding_side"] = "left"  # decoder-only batches pad on the left
        return self.processor(text=texts, images=images, **kwargs).to(self._device)

    def _generate(self, inputs, gen: dict, seeds: list[int] | None = None, **extra):
        kwargs = dict(max_new_tokens=int(gen["max_new_tokens"]), pad_token_id=self.tokenizer.pad_token_id, **extra)
        if gen["do_sample"] and seeds is not None:
            # the processors warp and pick each row's token with that row's generator
            kwargs.update(neutral_sampling(self.model.generation_config, extra.get("num_return_sequences", 1)), logits_processor=row_seeded_processors(gen, seeds, self._device))
        elif gen["do_sample"]:
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

    def _shared_prefix(self, inputs, n: int, gen: dict, seeds: list[int] | None):
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
        return self._generate({"input_ids": ids.repeat(n, 1), "attention_mask": mask.repeat(n, 1)}, gen, seeds, **{name: cache})

    def sample(self, prepared, n, gen, seed, first=0):
        """Samples ``first … first + n - 1`` of one question (``first`` > 0 needs ``row_seeds``)."""
        if first and not self.row_seeds:
            raise ValueError("samples after the first need row_seeds")
        inputs = self._encode([prepared])
        seeds = [sample_seed(seed, first + i) for i in range(n)] if self.row_seeds else None
        # The global generator is seeded per question, inside a fork: the caller's stream (a
        # trainer's rollouts and dropout, when training's Pass@K monitor samples) goes on as if
        # nothing had been drawn.
        # (manual_seed seeds every CUDA device, so every one is forked)
        cuda = list(range(torch.cuda.device_count())) if torch.device(self._device).type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)  # the prefill draws nothing
            if self.prefill_once and n > 1:
                try:
                    return self._shared_prefix(inputs, n, gen, seeds)
                except Exception as exc:  # model-specific cache/position bookkeeping: use the plain path
                    logger.warning(f"medbridge_hf: shared-prefill sampling unavailable for this model ({type(exc).__name__}: {exc}); using num_return_sequences")
                    self.prefill_once = False
                    torch.manual_seed(seed)
            return self._generate(inputs, gen, seeds, num_return_sequences=n)

    def greedy(self, prepared, gen):
        return self._generate(self._encode(prepared), gen)
