"""What every medbridge model backend shares: one generation call per question for its K
samples, seeded per question, cached per question.

lmms-eval implements ``repeats: K`` by handing the model the same ``Instance`` K times in a
row. A stock backend then generates K times (re-encoding the image and re-reading the prompt
each time). Here the clones are grouped back into one question, the backend asks its engine
for K samples at once (``num_return_sequences`` / ``SamplingParams(n=K)`` / the API's ``n``),
and the K completions are handed back to the K clones in order.

Reproducibility: each question's samples are seeded with ``hash(seed, task, split, doc_id)``,
so they do not depend on what ran before, on batch composition, on how many processes share
the work, or on resuming after a crash. Backends whose engine can seed every sample on its own
(``prefix_stable``: sample i seeded by ``hash(question seed, i)``) also give the first m of n
samples exactly as an m-sample run, so the cache serves any n from one series.

The cache is looked up from the chat messages as lmms-eval builds them (text and image bytes),
before any chat template is applied or image converted: a rerun on a full cache prepares
nothing for the engine, and the backends load their model only for the first question the
cache cannot answer (``load``), so such a rerun reads no weights either.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field

from lmms_eval.api.model import lmms
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


def request_identity(messages: list[dict]) -> str:
    """A digest of lmms-eval chat messages: roles, texts, and every image's mode, size and
    pixels as given (no conversion). What the engine sees follows from these, the checkpoint
    (fingerprint) and the backend's engine settings, which the cache key holds separately."""
    h = hashlib.sha256()

    def feed(value) -> None:
        if hasattr(value, "tobytes") and hasattr(value, "mode") and hasattr(value, "size"):  # a PIL image
            h.update(f"<image {value.mode} {value.size}>".encode())
            h.update(value.tobytes())
        elif isinstance(value, dict):
            for key in sorted(value):
                h.update(f"<{key}>".encode())
                feed(value[key])
        elif isinstance(value, (list, tuple)):
            h.update(f"<list {len(value)}>".encode())
            for item in value:
                feed(item)
        else:
            h.update(repr(value).encode())

    feed(messages)
    return h.hexdigest()


class KSampleBackend(lmms):
    """Base lmms-eval chat model; subclasses implement ``prepare``, ``sample`` and ``greedy``."""

    is_simple = False
    # Sample i of a question depends only on (question seed, i), so ``sample`` may be asked for
    # samples first..first+n-1 alone and the cache keeps one series per question.
    prefix_stable = False

    def __init__(self, seed: int = 0, batch_size: int = 1, cache: str | bool = True, cache_path: str | None = None, fresh: bool = False, max_new_tokens: int = 2048):
        super().__init__()
        self.seed = int(seed)
        self.batch_size = max(1, int(batch_size))
        self.default_max_new_tokens = int(max_new_tokens)
        use_cache = str(cache).lower() not in ("0", "false", "off", "no")
        self.sample_cache = SampleCache(cache_path, fresh=str(fresh).lower() in ("1", "true", "yes")) if use_cache else None
        self.fingerprint = "unknown"
        # settings of the engine that change samples without showing in the messages
        self.engine_settings: dict = {}

    # ---- implemented by subclasses -------------------------------------------------
    # How many sampled questions to hand ``sample_many`` at once (vLLM: many; HF: one).
    sample_batch_size = 1

    @property
    def sampling_scheme(self) -> str:
        """How samples are drawn (part of the cache key)."""
        return "per-sample seeds" if self.prefix_stable else "per-question seed"

    def prepare(self, messages: list[dict]):
        """Engine-ready input for one question (chat template applied, images converted)."""
        raise NotImplementedError

    @staticmethod
    def chat_parts(messages: list[dict]) -> tuple[list[dict], list]:
        """lmms-eval chat messages as Hugging Face chat messages, and their images in RGB."""
        from lmms_eval.protocol import ChatMessages

        chat = ChatMessages(messages=messages)
        images, _, _ = chat.extract_media()
        return chat.to_hf_messages(), [img.convert("RGB") for img in images]

    def sample(self, prepared, n: int, gen: dict, seed: int, first: int = 0) -> list[tuple[str, int]]:
        """Samples ``first … first + n - 1`` (text, output tokens) of one question, in one engine
        call. ``first`` is 0 unless the backend is ``prefix_stable``."""
        raise NotImplementedError

    def sample_many(self, batch: list[tuple[object, int, int, int]], gen: dict) -> list[list[tuple[str, int]]]:
        """``sample`` for several questions ``(prepared, n, seed, first)``; engines that schedule
        many requests at once (vLLM) override this."""
        return [self.sample(prepared, n, gen, seed, first) for prepared, n, seed, first in batch]

    def greedy(self, prepared: list, gen: dict) -> list[tuple[str, int]]:
        """One greedy completion per question of a batch."""
        raise NotImplementedError

    # ---- lmms-eval interface -----------------------------------------------------------
    def _messages(self, q: Question) -> list[dict]:
        doc_to_messages = q.instance.args[1]
        messages = doc_to_messages(self.task_dict[q.task][q.split][q.doc_id])
        return self._apply_system_prompt(list(messages), getattr(self, "system_prompt", None))

    def _key(self, q: Question, messages: list[dict], gen: dict, n: int) -> str:
        return sample_key(
            model=self.fingerprint, engine=self.engine_settings, task=q.task, split=q.split, doc=q.doc_id,
            request=request_identity(messages), gen=gen, seed=self.seed, sampler=self.sampling_scheme,
            n=None if self.prefix_stable or not gen["do_sample"] else n,
        )

    def generate_until(self, requests) -> list:
        from lmms_eval.api.instance import GenerationResult, TokenCounts

        questions = group_clones(requests)
        out: list = [None] * len(requests)
        # pending questions of one generation setting: (question, prepared, n, cache key, stored samples)
        pending: list[tuple[Question, object, int, str | None, list]] = []
        pending_gen: dict | None = None
        counts = {"cached": 0, "partly": 0}
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
                # (prepared, samples still missing, question seed, index of the first missing one)
                batch = [(p, n - len(stored), question_seed(self.seed, q.task, q.split, q.doc_id), len(stored))
                         for q, p, n, _, stored in pending]
                results = self.sample_many(batch, gen)
            else:
                results = [[r] for r in self.greedy([p for _, p, _, _, _ in pending], gen)]
            for (q, _, n, key, stored), new in zip(pending, results):
                if len(new) != n - len(stored):
                    expected = n - len(stored)
                    raise RuntimeError(f"backend returned {len(new)} completions for doc {q.doc_id} of {q.task}, expected {expected}")
                if key is not None:
                    self.sample_cache.put(key, new, first=len(stored))  # persisted before moving on
                deliver(q, stored + new, gen)
            pending.clear()

        try:
            for q in questions:
                gen = generation_settings(q.gen_kwargs, self.default_max_new_tokens)
                messages = self._messages(q)
                n = q.k if gen["do_sample"] else 1
                key = self._key(q, messages, gen, n) if self.sample_cache is not None else None
                stored = self.sample_cache.get(key, n) if key is not None else []
                if len(stored) == n:
                    counts["cached"] += 1
                    deliver(q, stored, gen)
                    continue
                if stored and not self.prefix_stable:  # cannot happen (keyed by n); never mix series
                    stored = []
                counts["partly"] += bool(stored)
                if pending and pending_gen != gen:
                    flush()
                pending_gen = gen
                pending.append((q, self.prepare(messages), n, key, stored))
                if len(pending) >= (self.sample_batch_size if gen["do_sample"] else self.batch_size):
                    flush()
            flush()
        finally:
            pbar.close()  # on an error too, so its message starts on a line of its own
        if self.sample_cache is not None:
            self.sample_cache.log_usage()
            rank = f" (rank {self.rank})" if self.world_size > 1 else ""
            partly = f", {counts['partly']} in part" if counts["partly"] else ""
            # printed, not logged: users check this line whatever lmms-eval's log level
            print(f"medbridge{rank}: {counts['cached']} of {len(questions)} questions from the sample cache{partly} "
                  f"({self.sample_cache.hits} samples reused, {self.sample_cache.generated} generated; {self.sample_cache.path})",
                  file=sys.stderr)
        return out

    def loglikelihood(self, requests):
        raise NotImplementedError("medbridge backends generate text; loglikelihood tasks are not supported")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("multi-round generation is not supported by medbridge backends")
