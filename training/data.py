"""MCQ docs for training: harness sources (or a JSONL of docs) -> drawn, balanced -> TRL rows.

Docs come from the same registry evaluation reads (``harness.sources``), so a MedMNIST train
split is read exactly as the eval tasks read the test split. Prompts are rendered by
``harness.prompt.mcq_messages``: a model is trained on the very turn it is evaluated on.

JSONL docs (``source: jsonl``, one object per line): ``id``, ``question``, ``options`` (list of
texts), ``answer`` (letter), ``images`` (paths, relative to the file), optional ``modality``,
``source``, ``meta`` and ``completion`` (a reference completion for SFT, e.g. a reasoning
trace ending in ``<answer>X</answer>``; it must grade correct).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from medbridge.harness.answers import format_answer, grade, option_letters
from medbridge.harness.errors import ConfigError, CorruptDataError, DataNotFoundError
from medbridge.harness.host import environment
from medbridge.harness.prompt import mcq_messages
from medbridge.harness.sources import MCQDoc, load_source_docs

from .config import DataConfig


def _medmnist_env(data: DataConfig):
    """MedMNIST readers take root/size from arguments or the environment; pass ours through."""
    root = str(Path(data.root).expanduser()) if data.root else None
    return environment({"MEDMNIST_ROOT": root, "MEDMNIST_SIZE": data.size or None})


def read_jsonl_docs(path: str | Path) -> list[MCQDoc]:
    """MCQ docs (and their optional reference completions, in ``meta['completion']``) from JSONL."""
    from PIL import Image

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError("MCQ-doc JSONL file not found", where=str(path), fix="set data.datasets to existing .jsonl files")
    docs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
            options = [str(o) for o in row["options"]]
            if not options or any(not o.strip() for o in options):
                raise CorruptDataError("empty option text", where=where, fix="every option needs a text")
            images = []
            for ref in row.get("images") or []:
                image_path = (path.parent / ref).resolve()
                if not image_path.is_file():
                    raise DataNotFoundError(f"image file missing: {ref}", where=where, fix="image paths are relative to the JSONL file")
                with Image.open(image_path) as im:
                    images.append(im.convert("RGB"))
            meta = dict(row.get("meta") or {})
            if row.get("completion") is not None:
                completion = str(row["completion"])
                if not grade(completion, options, row["answer"]).correct:
                    raise CorruptDataError("the reference completion does not grade as its own answer", where=where,
                                           fix="end it with <answer>LETTER</answer> naming the gold option")
                meta["completion"] = completion
            docs.append(MCQDoc(id=str(row.get("id") or f"{path.stem}/{number}"), images=images, question=str(row["question"]),
                               options=options, answer=str(row["answer"]), modality=str(row.get("modality") or "unknown"),
                               source=str(row.get("source") or "jsonl"), meta=meta))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise CorruptDataError(f"not an MCQ doc ({type(exc).__name__}: {exc})", where=where,
                                   fix="each line needs question, options (list), answer (letter) and images (paths)") from exc
        except ValueError as exc:  # MCQDoc's own check: answer letter outside the options
            raise CorruptDataError(str(exc), where=where) from exc
    if not docs:
        raise DataNotFoundError("MCQ-doc JSONL file holds no docs", where=str(path))
    return docs


def _read(data: DataConfig, datasets: list[str], split: str) -> list[MCQDoc]:
    docs: list[MCQDoc] = []
    for name in datasets:
        if data.source == "jsonl":
            docs.extend(read_jsonl_docs(name))
            continue
        options = {"balanced": False} if data.source == "medmnist" else {}
        with _medmnist_env(data):
            docs.extend(load_source_docs(data.source, name, split, **options))
    return docs


def balanced_draw(docs: list[MCQDoc], limit: int | None, seed: int) -> list[MCQDoc]:
    """The same number of questions per gold answer text (MedMNIST class, Yes / No), seeded.

    Without ``limit`` every class gets the smallest class's count (no repeats, like the eval
    subsets); with ``limit`` each class gets limit // classes, and a smaller class is drawn with
    replacement (oversampled) so the draw stays balanced. The order is shuffled."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, doc in enumerate(docs):
        by_class.setdefault(doc.answer_text.strip().lower(), []).append(i)
    classes = sorted(by_class)
    per_class = min(len(v) for v in by_class.values()) if limit is None else max(1, limit // len(classes))
    picked = []
    for name in classes:
        pool = by_class[name]
        picked.extend(rng.choice(pool, size=per_class, replace=per_class > len(pool)).tolist())
    rng.shuffle(picked)
    return [docs[i] for i in picked]


def training_docs(data: DataConfig) -> list[MCQDoc]:
    docs = _read(data, data.datasets, data.split)
    if data.balanced:
        return balanced_draw(docs, data.limit, data.seed)
    order = np.random.default_rng(data.seed).permutation(len(docs))
    return [docs[i] for i in order[: data.limit]]


def monitor_docs(data: DataConfig) -> list[MCQDoc]:
    """The held-out questions the Pass@K monitor scores (balanced, seeded; [] when none)."""
    if not data.monitor_split:
        return []
    if data.monitor_split == data.split and not data.monitor_datasets:
        raise ConfigError(f"the monitor set is the training split ({data.split!r})", fix="set data.monitor_split to a held-out split (val)")
    docs = _read(data, data.monitor_datasets or data.datasets, data.monitor_split)
    return balanced_draw(docs, data.monitor_limit, data.seed + 1) if len(docs) > 1 else docs


def data_fingerprint(docs: list[MCQDoc]) -> dict:
    """Which docs a run saw, in order: ids hashed with their answers (lineage in the run card)."""
    h = hashlib.sha256()
    for doc in docs:
        h.update(f"{doc.id}\t{doc.answer}\n".encode())
    counts: dict[str, int] = {}
    for doc in docs:
        counts[doc.answer_text] = counts.get(doc.answer_text, 0) + 1
    return {"sha256": h.hexdigest(), "n": len(docs), "unique": len({d.id for d in docs}), "by_answer": dict(sorted(counts.items()))}


def sft_target(doc: MCQDoc, think: str) -> str:
    """The reference completion when the doc has one, else ``<think>{think}</think><answer>X</answer>``."""
    return doc.meta.get("completion") or format_answer(doc.answer, think=think)


def _images(doc: MCQDoc) -> list:
    return [im.convert("RGB") for im in doc.images]


def sft_dataset(docs: list[MCQDoc], think: str = ""):
    """TRL prompt-completion rows with images: loss on the completion only (TRL's default)."""
    import datasets

    return datasets.Dataset.from_dict(
        {
            "images": [_images(d) for d in docs],
            "prompt": [mcq_messages(d.question, d.options, n_images=len(d.images)) for d in docs],
            "completion": [[{"role": "assistant", "content": sft_target(d, think)}] for d in docs],
        }
    )


def grpo_dataset(docs: list[MCQDoc]):
    """TRL prompt rows with images; ``options`` and ``answer`` reach the reward functions."""
    import datasets

    for d in docs:
        option_letters(len(d.options))
    return datasets.Dataset.from_dict(
        {
            "images": [_images(d) for d in docs],
            "prompt": [mcq_messages(d.question, d.options, n_images=len(d.images)) for d in docs],
            "options": [list(d.options) for d in docs],
            "answer": [d.answer for d in docs],
            "doc_id": [d.id for d in docs],
        }
    )
