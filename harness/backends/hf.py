"""``medbridge_hf``: any Hugging Face VLM with a chat template, K samples in one ``generate``.

Loaded with ``AutoModelForImageTextToText`` + ``AutoProcessor`` (Qwen2-VL, Qwen2.5-VL, LLaVA
and other image-text-to-text models), on CPU or GPU. model_args: ``pretrained``, ``device``,
``device_map``, ``dtype`` (auto | bfloat16 | float16 | float32), ``attn_implementation``,
``min_pixels`` / ``max_pixels`` (Qwen processors), ``batch_size`` (greedy questions per call),
``seed``, ``cache`` / ``cache_path`` / ``fresh`` (see ``backends/cache.py``),
``max_new_tokens`` (default when a task sets none), ``system_prompt``, ``prefill_once``,
``row_seeds``.

The K samples of a question come from ONE generation with the prompt prefilled once
(``harness/sampling.py``, shared with training's Pass@K monitor; ``prefill_once=false`` forces
``num_return_sequences``). Each of the K rows samples from its own generator seeded by
(question seed, row index) (``row_seeds``, default; see ``harness/row_sampling.py``), so sample
i is the same whatever K is and the cache can serve a 16-sample run's first 8 to an 8-sample
run, or add 8 to reach 16. ``row_seeds=false`` samples all rows from one generator, as
``generate`` does by itself.

The constructor checks the arguments and the checkpoint and fingerprints it; the model and
processor load on the first question the sample cache cannot answer (``load``).
"""

from __future__ import annotations

import os

import torch
from loguru import logger

from ..errors import CheckpointError, first_line
from ..fingerprint import check_checkpoint, checkpoint_fingerprint
from ..host import default_device
from ..sampling import HFSampler
from .base import KSampleBackend


def _on(value) -> bool:
    return str(value).lower() not in ("0", "false", "no", "off")


_DTYPES = {"auto": "auto", "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}


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
        row_seeds: bool = True,
        **unknown,
    ) -> None:
        if unknown:
            raise TypeError(f"medbridge_hf: unknown model_args {sorted(unknown)}")
        super().__init__(seed=seed, batch_size=batch_size, cache=cache, cache_path=cache_path, fresh=fresh, max_new_tokens=max_new_tokens)
        # Data parallel, one full model per process. torchrun (CPU: gloo; GPU: nccl) starts the
        # process group before lmms-eval builds the model; `accelerate launch` (GPUs) through
        # its Accelerator. lmms-eval shards the questions by this rank / world size.
        import torch.distributed as dist
        from accelerate import Accelerator

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
            self._device = torch.device(device or default_device())
            device_map = device_map or str(self._device)
        if dtype not in _DTYPES:
            raise ValueError(f"medbridge_hf: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        ref = check_checkpoint(pretrained)
        kwargs = {"dtype": _DTYPES[dtype], "device_map": device_map, "trust_remote_code": trust_remote_code}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        proc_kwargs = {k: int(v) for k, v in {"min_pixels": min_pixels, "max_pixels": max_pixels}.items() if v is not None}
        self._load_args = {"pretrained": pretrained, "ref": ref, "model": kwargs, "processor": {"trust_remote_code": trust_remote_code, **proc_kwargs}}
        self._prefill_once, self._closed = _on(prefill_once), False
        self.model = self.processor = self.tokenizer = self.sampler = None  # loaded on first use: load()
        self.system_prompt = system_prompt
        self.prefix_stable = _on(row_seeds)
        # settings that change samples without showing in the messages: part of the cache key
        self.engine_settings = {"dtype": str(dtype), **proc_kwargs}
        self.fingerprint = checkpoint_fingerprint(ref)

    def load(self) -> HFSampler:
        """Load the model and processor (once). Called by the first question the cache cannot
        answer, so a rerun on a full cache imports no model code and reads no weights (1.9 s
        inside a ``medbridge eval`` of the tiny model, where lmms-eval has already imported
        torch, transformers and torchvision: the Qwen2.5-VL model and processor modules, the
        weights; ``benchmarks/eval_setup.py`` prints it beside a cold load)."""
        if self.sampler is None:
            if self._closed:
                raise RuntimeError("medbridge_hf: the model was freed by clean()")
            from safetensors import SafetensorError
            from transformers import AutoModelForImageTextToText, AutoProcessor

            args = self._load_args
            try:
                self.model = AutoModelForImageTextToText.from_pretrained(args["ref"], **args["model"]).eval()
            except ValueError as exc:
                raise CheckpointError(f"{args['pretrained']} is not an image-text-to-text model ({exc})", fix="medbridge_hf loads VLMs through AutoModelForImageTextToText") from exc
            except (OSError, SafetensorError) as exc:  # weight files missing, truncated or damaged
                raise CheckpointError(f"the weights could not be read ({type(exc).__name__}: {first_line(exc)})", where=args["ref"],
                                      fix="the checkpoint folder is incomplete or damaged: copy or download it again") from exc
            self.processor = AutoProcessor.from_pretrained(args["ref"], **args["processor"])
            self.tokenizer = self.processor.tokenizer
            self.sampler = HFSampler(self.model, self.processor, self._device, prefill_once=self._prefill_once, row_seeds=self.prefix_stable)
            if self.rank == 0:
                logger.info(f"medbridge_hf: {args['pretrained']} on {self._device} ({self.fingerprint[:19]}…), {self.world_size} process(es)")
        return self.sampler

    @property
    def device(self):
        return self._device

    @property
    def prefill_once(self) -> bool:
        return self.sampler.prefill_once if self.sampler is not None else self._prefill_once

    def prepare(self, messages):
        # the model first: converting the messages imports lmms-eval's media helpers, which pull
        # in torchvision (~1 s where lmms-eval's tasks have not already), as loading a
        # Qwen2.5-VL does; it is load time either way
        sampler = self.load()
        hf_messages, images = self.chat_parts(messages)
        return sampler.prepare(hf_messages, images)[0]  # the cache keys by the messages, not this text

    def sample(self, prepared, n, gen, seed, first=0):
        return self.load().sample(prepared, n, gen, seed, first)

    def greedy(self, prepared, gen):
        return self.load().greedy(prepared, gen)

    def clean(self) -> None:
        """Free the model once lmms-eval is done with it (it calls this before any judge step).
        lmms-eval's own ``clean`` deletes the nn.Module attributes, which leaves the model alive
        in ``self.sampler``, and runs two full garbage collections (one inside accelerate's
        ``free_memory``), ~0.4 s each with torch loaded on 2 cores. Dropping every reference
        frees the model by reference counting; a collection runs only if a cycle keeps it."""
        import gc
        import weakref

        model = weakref.ref(self.model) if self.model is not None else lambda: None
        self.model = self.sampler = None
        self._closed = True
        if model() is not None:
            gc.collect()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
