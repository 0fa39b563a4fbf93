"""``medbridge data balance``: a modality-balanced subset of a VQA train split (paper section 4).

1. Label every question's imaging modality: with a VLM (``--classifier``: any Hugging Face
   image-text-to-text checkpoint, greedy, batched through the core sampling path
   ``harness.sampling.HFSampler``), or from a file (``--labels``). Categories, aliases and the
   prompt live in a template (``templates/modality.yaml``; ``--template`` for another). The parser
   accepts only a category (or an alias) and maps anything else to ``none``, counted as off-list:
   nothing is guessed.
2. Classifier labels are cached in ``OUTPUT/labels.jsonl`` as they are made (one line per
   question, flushed per batch), so a killed run resumes where it stopped; the cache belongs to
   one classifier + prompt (a different one is refused).
3. Draw a seeded balanced subset: ``size`` split evenly over the categories (``none`` is left out
   unless ``--keep-none``; the paper does not say); a category with fewer questions gives all it
   has and the rest goes to the others.
4. Write it as MCQ-doc JSONL (``OUTPUT/<OUTPUT name>.jsonl`` + ``images/``), which training reads
   with ``data.source: jsonl``, and ``OUTPUT/balance_card.json`` (label counts, off-list count,
   classifier id and fingerprint, prompt, seed, sizes).

Questions come from ``harness.sources.vqa.mcq_items`` with their images as references (paths or
bytes), decoded one batch at a time: PMC-VQA's train split has ~150k figures, which could not be
held decoded in memory as the registry's docs are.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..atomic_write import write_text_atomic
from ..errors import ConfigError, CorruptDataError, DataNotFoundError

TEMPLATE = Path(__file__).parent / "templates" / "modality.yaml"
CACHE, CACHE_META, CARD = "labels.jsonl", "labels.meta.json", "balance_card.json"
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_EDGES = " \t\r\n.,;:!?\"'`()[]{}*"


@dataclass
class Template:
    path: Path
    categories: list[str]
    none: str
    aliases: dict[str, str]
    prompt_text: str

    @property
    def sha(self) -> str:
        return hashlib.sha256(json.dumps([self.categories, self.none, self.aliases, self.prompt_text]).encode()).hexdigest()[:16]

    def render(self, question: str, options: list[str]) -> str:
        import jinja2

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
        return env.from_string(self.prompt_text).render(question=question.strip(), options=options, categories=self.categories, none=self.none).strip()

    def parse(self, answer: str) -> tuple[str, bool]:
        """(label, off_list): an exact category, alias or ``none``; anything else is off-list."""
        found = _ANSWER.findall(answer or "")
        text = " ".join((found[0] if found else answer or "").split()).strip(_EDGES).lower()
        table = {c.lower(): c for c in self.categories} | {self.none.lower(): self.none} | {a.lower(): c for a, c in self.aliases.items()}
        return (table[text], False) if text in table else (self.none, True)


def load_template(path: str | Path | None = None) -> Template:
    import yaml

    path = Path(path) if path else TEMPLATE
    if not path.is_file():
        raise ConfigError("modality template not found", where=str(path), fix=f"copy {TEMPLATE} and edit it")
    raw = yaml.safe_load(path.read_text()) or {}
    unknown = set(raw) - {"categories", "none", "aliases", "prompt"}
    if unknown or not raw.get("categories") or not raw.get("prompt"):
        raise ConfigError(f"a modality template holds categories, none, aliases and prompt{f' (unknown: {sorted(unknown)})' if unknown else ''}", where=str(path))
    cats = [str(c) for c in raw["categories"]]
    aliases = {str(k): str(v) for k, v in (raw.get("aliases") or {}).items()}
    bad = sorted(set(aliases.values()) - set(cats))
    if bad:
        raise ConfigError(f"aliases map to unknown categories {bad}", where=str(path))
    return Template(path, cats, str(raw.get("none") or "none"), aliases, str(raw["prompt"]))


# ---- labels from a file ----

def read_labels_file(path: str | Path) -> list[dict]:
    """Rows with ``label`` and ``id`` (a medbridge question id) or ``figure`` + ``question``; CSV or JSONL."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError("labels file not found", where=str(path))
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise CorruptDataError(f"line {number} is not JSON ({exc.msg})", where=str(path)) from exc
    if not rows or not all("label" in r and ("id" in r or {"figure", "question"} <= set(r)) for r in rows):
        raise CorruptDataError("each row needs `label` and `id` (or `figure` and `question`)", where=str(path),
                               fix="e.g. a CSV with header id,label and ids as in OUTPUT/labels.jsonl")
    return rows


def labels_from_file(items, rows: list[dict], template: Template) -> tuple[dict[str, dict], int]:
    """``{id: {label, raw, off_list}}`` for the items the file's rows label, and how many it leaves out."""
    by_id = {it.id: it for it in items}
    by_figure = {(str(it.meta.get("figure")), it.question.strip()): it.id for it in items}
    out = {}
    for row in rows:
        item_id = row.get("id") or by_figure.get((str(row.get("figure")), str(row.get("question", "")).strip()))
        if item_id in by_id:
            label, off = template.parse(str(row["label"]))
            out[item_id] = {"label": label, "raw": str(row["label"]), "off_list": off}
    return out, len(items) - len(out)


# ---- labels from a classifier ----

class LabelCache:
    """``labels.jsonl`` (append-only) + ``labels.meta.json`` (whose labels they are)."""

    def __init__(self, folder: Path, meta: dict, fresh: bool = False):
        self.path, self.meta_path = folder / CACHE, folder / CACHE_META
        folder.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.path.unlink(missing_ok=True)
            self.meta_path.unlink(missing_ok=True)
        if self.meta_path.is_file():
            old = json.loads(self.meta_path.read_text())
            differs = [k for k in ("classifier_fingerprint", "prompt_sha", "benchmark", "split") if old.get(k) != meta.get(k)]
            if differs:
                raise ConfigError(f"{self.path} holds labels of another run ({', '.join(differs)} differ)", where=str(folder),
                                  fix="use another --output, or --fresh to discard them")
        else:
            write_text_atomic(self.meta_path, json.dumps(meta, indent=1, sort_keys=True) + "\n")
        self.labels = self._read()

    def _read(self) -> dict[str, dict]:
        if not self.path.is_file():
            return {}
        good, labels = [], {}
        text = self.path.read_text()
        for line in text.splitlines():
            try:
                row = json.loads(line)
                labels[row["id"]] = {k: row[k] for k in ("label", "raw", "off_list")}
                good.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                break  # a line cut by a kill: drop it and what follows
        whole = "".join(f"{ln}\n" for ln in good)
        if whole != text:  # only after a kill; atomic, so a second kill cannot lose the labels kept
            write_text_atomic(self.path, whole)
        return labels

    def add(self, rows: list[dict]) -> None:
        with self.path.open("a") as f:
            for row in rows:
                f.write(json.dumps(row, sort_keys=True) + "\n")
                self.labels[row["id"]] = {k: row[k] for k in ("label", "raw", "off_list")}
            f.flush()


def load_classifier(model: str, device: str | None = None, max_pixels: int | None = None):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from ..errors import CheckpointError
    from ..fingerprint import check_checkpoint
    from ..host import default_device
    from ..sampling import HFSampler

    ref = check_checkpoint(model)
    device = device or default_device()
    try:
        vlm = AutoModelForImageTextToText.from_pretrained(ref, dtype="auto", device_map=device).eval()
    except ValueError as exc:
        raise CheckpointError(f"{model} is not an image-text-to-text model ({exc})", fix="the classifier must be a VLM, e.g. Qwen/Qwen2.5-VL-32B-Instruct") from exc
    processor = AutoProcessor.from_pretrained(ref, **({"max_pixels": int(max_pixels)} if max_pixels else {}))
    return HFSampler(vlm, processor, torch.device(device)), ref


def classify(items, sampler, template: Template, cache: LabelCache, batch_size: int = 8, max_new_tokens: int = 16, progress=None) -> int:
    """Label the items the cache lacks, a batch at a time; return how many were classified now."""
    from ..sampling import generation_settings
    from ..sources.vqa.common import load_image

    todo = [it for it in items if it.id not in cache.labels]
    gen = generation_settings({"max_new_tokens": max_new_tokens, "temperature": 0}, max_new_tokens)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        prepared = []
        for it in batch:
            images = [load_image(ref, it.where or it.id).convert("RGB") for ref in it.images]
            parts = [{"type": "image"} for _ in images] + [{"type": "text", "text": template.render(it.question, list(it.options or []))}]
            prepared.append(sampler.prepare([{"role": "user", "content": parts}], images)[0])
        answers = sampler.greedy(prepared, gen)
        rows = []
        for it, (text, _) in zip(batch, answers):
            label, off = template.parse(text)
            rows.append({"id": it.id, "label": label, "raw": text, "off_list": off})
        cache.add(rows)
        if progress:
            progress(min(start + batch_size, len(todo)), len(todo))
    return len(todo)


# ---- the subset ----

def balanced_subset(labels: dict[str, str], categories: list[str], size: int, seed: int) -> tuple[list[str], dict[str, int]]:
    """``size`` ids spread evenly over ``categories`` (water-filling: a small category gives all
    it has, the others share the rest), drawn with a seeded generator; the order is shuffled."""
    import numpy as np

    pools = {c: sorted(i for i, lab in labels.items() if lab == c) for c in categories}
    take = dict.fromkeys(categories, 0)
    remaining, active = size, [c for c in categories if pools[c]]
    while remaining > 0 and active:
        share = remaining // len(active)
        if share == 0:  # fewer left than categories: one more each, in category order
            for c in active[:remaining]:
                take[c] += 1
            remaining = 0
            break
        for c in active:
            extra = min(share, len(pools[c]) - take[c])
            take[c] += extra
            remaining -= extra
        active = [c for c in active if take[c] < len(pools[c])]
    rng = np.random.default_rng(seed)
    chosen = [i for c in categories for i in (rng.choice(pools[c], size=take[c], replace=False).tolist() if take[c] else [])]
    order = rng.permutation(len(chosen))
    return [chosen[i] for i in order], {c: take[c] for c in categories}


def run_balance(benchmark: str, output: str | Path, *, split: str = "train", classifier: str | None = None, labels: str | None = None,
                size: int = 8000, seed: int = 0, template: str | None = None, keep_none: bool = False, batch_size: int = 8,
                max_new_tokens: int = 16, max_pixels: int | None = None, device: str | None = None, limit: int | None = None,
                fresh: bool = False, say=print) -> dict:
    """Label, draw, write; return the balance card."""
    from ..fingerprint import checkpoint_fingerprint
    from ..records import write_json_atomic
    from ..sources import vqa
    from .mcq_jsonl import doc_row, write_rows

    if (classifier is None) == (labels is None):
        raise ConfigError("give exactly one of --classifier MODEL or --labels FILE")
    if size < 1:
        raise ConfigError(f"--size must be >= 1, got {size}")
    output = Path(output)
    tmpl = load_template(template)
    label_rows = read_labels_file(labels) if labels is not None else None  # bad input fails before any reading
    if classifier is not None:
        from ..fingerprint import check_checkpoint

        check_checkpoint(classifier)
    items, report = vqa.mcq_items(vqa.check_name(benchmark), split)
    items = items[:limit] if limit else items
    say(f"{benchmark} {split}: {len(items)} multiple-choice questions ({report.rows} rows read)")
    if classifier is not None:
        sampler, ref = load_classifier(classifier, device, max_pixels)
        meta = {"benchmark": benchmark, "split": split, "classifier": classifier, "classifier_fingerprint": checkpoint_fingerprint(ref),
                "prompt_sha": tmpl.sha, "template": str(tmpl.path)}
        cache = LabelCache(output, meta, fresh=fresh)
        cached = sum(1 for it in items if it.id in cache.labels)
        done = classify(items, sampler, tmpl, cache, batch_size, max_new_tokens, progress=lambda i, n: say(f"classified {i}/{n}") if i == n or i % (batch_size * 50) == 0 else None)
        found, unlabelled = {it.id: cache.labels[it.id] for it in items}, 0
        origin = {"classifier": classifier, "classifier_fingerprint": meta["classifier_fingerprint"], "classified_now": done, "from_cache": cached}
    else:
        found, unlabelled = labels_from_file(items, label_rows, tmpl)
        if not found:
            raise ConfigError("the labels file names none of the questions", where=str(labels), fix="ids as medbridge gives them (e.g. pmc_vqa/train/00012), or figure + question")
        origin = {"labels_file": str(labels), "labels_sha256": hashlib.sha256(Path(labels).read_bytes()).hexdigest(), "unlabelled": unlabelled}
    counts = Counter(v["label"] for v in found.values())
    off_list = sum(1 for v in found.values() if v["off_list"])
    categories = [*tmpl.categories, *([tmpl.none] if keep_none else [])]
    ids, drawn = balanced_subset({k: v["label"] for k, v in found.items()}, categories, size, seed)
    if not ids:
        raise ConfigError(f"no question is labelled with a category ({dict(counts)}, {off_list} off-list answers)",
                          fix="check the classifier's answers in labels.jsonl, or --keep-none to draw from none too")
    by_id = {it.id: it for it in items}
    name = output.name or "subset"
    import shutil

    shutil.rmtree(output / "images", ignore_errors=True)  # a rerun's subset replaces the last one
    rows = [doc_row(i, by_id[i].question, by_id[i].options, by_id[i].answer_letter, by_id[i].images, output, modality=found[i]["label"],
                    source=benchmark, meta={**by_id[i].meta, "split": split, "modality_label": found[i]["label"]}) for i in ids]
    jsonl = write_rows(rows, output / f"{name}.jsonl")
    card = {
        "schema": "medbridge.balance/1", "benchmark": benchmark, "split": split, "questions": len(items), "labelled": len(found),
        "label_counts": {c: counts.get(c, 0) for c in [*tmpl.categories, tmpl.none]}, "off_list": off_list,
        "size": size, "seed": seed, "keep_none": keep_none, "drawn": drawn, "written": len(rows), "jsonl": str(jsonl),
        "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "template": str(tmpl.path), "prompt": tmpl.prompt_text, "prompt_sha": tmpl.sha, "categories": tmpl.categories, **origin,
    }
    if len(rows) < size:
        card["note"] = f"asked for {size}, only {len(rows)} questions carry a category"
    write_json_atomic(output / CARD, card)
    say(f"labels: {dict(card['label_counts'])} ({off_list} off-list answers counted as {tmpl.none}); drawn {drawn}")
    say(f"wrote {len(rows)} questions to {jsonl} (card: {output / CARD})")
    return card
