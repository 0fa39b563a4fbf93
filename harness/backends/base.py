"""What every medbridge model backend shares: one generation call per question for its K
samples, seeded per question, cached per question.

lmms-eval implements ``repeats: K`` by handing the model the same ``Instance`` K times in a
row. A stock backend then generates K times (re-encoding the image and re-reading the prompt
each time). Here the clones are grouped back into one question, the backend asks its engine
for K samples at once (``num_return_sequences`` / ``SamplingParams(n=K)`` / the API's ``n``),
and the K completions are handed back to the K clones in order.

Reproducibility: each question's samples come from a generator seeded with
``hash(seed, task, split, doc_id)``, so they do not depend on what ran before, on batch
composition, on how many processes share the work, or on resuming after a crash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from lmms_eval.api.model import lmms
from loguru import logger
from tqdm import tqdm

from ..sampling import generation_settings, question_seed, truncate_at_stop
from .cache import SampleCache, sample_key

@dataclass
class Question:
    """One lmms-eval request and the positions of its K clones in the request list."""

    instance: object
    positions: list[int] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.positions)

    @property
    def doc_id(self):
        return self.instance.args[3]

    @property
    def task(self) -> str:
        return self.instance.args[4]

    @property
    def split(self) -> str:
        return self.instance.args[5]

    @property
    def gen_kwargs(self) -> dict:
        return dict(self.instance.args[2] or {})


def group_clones(requests: list) -> list[Question]:
    """Group the K consecutive clones (the same Instance object) of each question, in order."""
    by_id: dict[int, Question] = {}
    order = []
    for pos, req in enumerate(requests):
        q = by_id.get(id(req))
        if q is None:
            q = by_id[id(req)] = Question(req)
            order.append(q)
        q.positions.append(pos)
    return order


class KSampleBackend(lmms):
    """Base lmms-eval chat model; subclasses implement ``prepare``, ``sample`` and ``greedy``."""

    is_simple = False

    def __init__(self, seed: int = 0, batch_size: int = 1, cache: str | bool = True, cache_path: str | None = None, fresh: bool = False, max_new_tokens: int = 2048):
        super().__init__()
        self.seed = int(seed)
        self.batch_size = max(1, int(batch_size))
        self.default_max_new_tokens = int(max_new_tokens)
        use_cache = str(cache).lower() not in ("0", "false", "off", "no")
        self.sample_cache = SampleCache(cache_path, fresh=str(fresh).lower() in ("1", "true", "yes")) if use_cache else None
        self.fingerprint = "unknown"

    # ---- implemented by subclasses -------------------------------------------------
    # How many sampled questions to hand ``sample_many`` at once (vLLM: many; HF: one).
    sample_batch_size = 1

    def prepare(self, messages: list[dict]):
        """Engine-ready input for one question, and the text + image bytes that identify it."""
        raise NotImplementedError

    @staticmethod
    def chat_parts(messages: list[dict]) -> tuple[list[dict], list]:
        """lmms-eval chat messages as Hugging Face chat messages, and their images in RGB."""
        from lmms_eval.protocol import ChatMessages

        chat = ChatMessages(messages=messages)
        images, _, _ = chat.extract_media()
        return chat.to_hf_messages(), [img.convert("RGB") for img in images]

    def sample(self, prepared, n: int, gen: dict, seed: int) -> list[tuple[str, int]]:
        """n sampled completions (text, output tokens) for one question, in one engine call."""
        raise NotImplementedError

    def sample_many(self, batch: list[tuple[object, int, int]], gen: dict) -> list[list[tuple[str, int]]]:
        """``sample`` for several questions ``(prepared, n, seed)``; engines that schedule many
        requests at once (vLLM) override this."""
        return [self.sample(prepared, n, gen, seed) for prepared, n, seed in batch]

    def greedy(self, prepared: list, gen: dict) -> list[tuple[str, int]]:
        """One greedy completion per question of a batch."""
        raise NotImplementedError

    # ---- lmms-eval interface -----------------------------------------------------------
    def _messages(self, q: Question) -> list[dict]:
        doc_to_messages = q.instance.args[1]
        messages = doc_to_messages(self.task_dict[q.task][q.split][q.doc_id])
        return self._apply_system_prompt(list(messages), getattr(self, "system_prompt", None))

    def _key(self, q: Question, identity: bytes, gen: dict) -> str:
        request = hashlib.sha256(identity).hexdigest()
        return sample_key(model=self.fingerprint, task=q.task, split=q.split, doc=q.doc_id, request=request, gen=gen, seed=self.seed)

    def generate_until(self, requests) -> list:
        from lmms_eval.api.instance import GenerationResult, TokenCounts

        questions = group_clones(requests)
        out: list = [None] * len(requests)
        # pending questions of one generation setting: (question, prepared, n, cache key)
        pending: list[tuple[Question, object, int, str | None]] = []
        pending_gen: dict | None = None
        pbar = tqdm(total=len(questions), disable=self.rank != 0, desc="medbridge generating")

        def deliver(q: Question, samples: list[tuple[str, int]], gen: dict) -> None:
            if len(samples) == 1 and q.k > 1:  # greedy: K identical answers, generated once
                samples = samples * q.k
            for pos, (text, tokens) in zip(q.positions, samples):
                out[pos] = GenerationResult(text=truncate_at_stop(text, gen["until"]), token_counts=TokenCounts(output_tokens=tokens))
            pbar.update(1)

        def flush() -> None:
            if not pending:
                return
            gen = pending_gen
            if gen["do_sample"]:
                batch = [(p, n, question_seed(self.seed, q.task, q.split, q.doc_id)) for q, p, n, _ in pending]
                results = self.sample_many(batch, gen)
            else:
                results = [[r] for r in self.greedy([p for _, p, _, _ in pending], gen)]
            for (q, _, n, key), samples in zip(pending, results):
                if len(samples) != n:
                    raise RuntimeError(f"backend returned {len(samples)} completions for doc {q.doc_id} of {q.task}, expected {n}")
                if key is not None:
                    self.sample_cache.put(key, samples)  # persisted before moving on
                deliver(q, samples, gen)
            pending.clear()

        for q in questions:
            gen = generation_settings(q.gen_kwargs, self.default_max_new_tokens)
            prepared, identity = self.prepare(self._messages(q))
            n = q.k if gen["do_sample"] else 1
            key = self._key(q, identity, gen) if self.sample_cache is not None else None
            cached = self.sample_cache.get(key, n) if key is not None else None
            if cached is not None:
                deliver(q, cached, gen)
                continue
            if pending and pending_gen != gen:
                flush()
            pending_gen = gen
            pending.append((q, prepared, n, key))
            if len(pending) >= (self.sample_batch_size if gen["do_sample"] else self.batch_size):
                flush()
        flush()
        pbar.close()
        if self.sample_cache is not None:
            self.sample_cache.log_usage()
        if self.sample_cache is not None and self.rank == 0:
            logger.info(f"medbridge cache {self.sample_cache.path}: {self.sample_cache.hits} samples reused, {self.sample_cache.generated} generated")
        return out

    def loglikelihood(self, requests):
        raise NotImplementedError("medbridge backends generate text; loglikelihood tasks are not supported")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("multi-round generation is not supported by medbridge backends")
