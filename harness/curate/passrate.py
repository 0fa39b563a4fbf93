"""``medbridge data passrate``: per-question pass rates, and the RL subset where support exists.

The paper's finding is that RL converts existing support into Acc@1; a question the model never
answers right in n samples gives GRPO no signal (all rewards equal), and one it always answers
right has nothing left to sharpen. So: sample every question n times (a ``_passk`` task through
lmms-eval, on the split you name, typically ``train``), take its pass rate c / n, and keep the
questions with 0 < c / n < 1 as MCQ-doc JSONL a training config can name (``source: jsonl``).
MedVLThinker selects its RL data the same way (pass rates from n = 16 samples).

The rates come from evaluation output (records + lmms-eval sample logs): a fresh run
(``--model``) or an existing ``medbridge eval --output`` folder (``--from``). The questions are
read again from the task's source with the settings the record names, and checked against the
logs (count and gold letter of every question) before anything is written.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..errors import ConfigError, RecordError

BUCKETS = ("never", "sometimes", "always")  # c = 0, 0 < c < n, c = n


def bucket(correct: int, n: int) -> str:
    return "never" if correct == 0 else "always" if correct == n else "sometimes"


def _results_config(folder: Path, task: str) -> dict:
    """The task's config as lmms-eval wrote it (dataset_name, test_split, repeats)."""
    for path in sorted(folder.rglob("*_results.json"), reverse=True):
        configs = json.loads(path.read_text()).get("configs") or {}
        if task in configs:
            return configs[task]
    raise RecordError(f"no lmms-eval results file names task {task!r}", where=str(folder), fix="pass a `medbridge eval --output` folder")


def _docs(record: dict, config: dict):
    """The task's questions, read again as the evaluation read them."""
    from ..sources import load_source_docs

    data = record.get("data") or {}
    source, name, split = data.get("source"), config.get("dataset_name"), config.get("test_split")
    if source == "medmnist":
        return load_source_docs("medmnist", name, split, root=Path(data["file"]).parent, size=data.get("size"),
                                per_class=data.get("per_class"), seed=int(data.get("subset_seed") or 0))
    if source == "vqa":
        return load_source_docs("vqa", name, split)
    raise ConfigError(f"task {record['task']['name']!r} does not read a medbridge source (data: {data or 'not recorded'})",
                      fix="pass rates need medbridge's MedMNIST or VQA tasks (their questions are read again)")


def rates(folder: str | Path) -> list[dict]:
    """One row per question of every Pass@K task in an evaluation output folder:
    task, doc (the MCQDoc), n samples, c correct, pass rate, bucket."""
    from ..leaderboard import collect

    folder = Path(folder)
    rows = []
    sampled = [r for r in collect(folder) if int((r.get("generation") or {}).get("n") or 1) > 1]
    if not sampled:
        raise ConfigError("no sampled (_passk) task in this evaluation", where=str(folder), fix="evaluate a _passk task (n samples per question)")
    for record in sampled:
        task, n = record["task"]["name"], int(record["generation"]["n"])
        docs = _docs(record, _results_config(folder / "lmms_eval", task))
        per_doc = record["per_doc"]
        if len(docs) != len(per_doc["doc_id"]):
            raise RecordError(f"task {task}: {len(docs)} questions read now, {len(per_doc['doc_id'])} evaluated", where=str(folder),
                              fix="read the same data copy and settings (--data-root / --size / --per-class / --data) the evaluation used")
        for i, doc_id in enumerate(per_doc["doc_id"]):
            doc = docs[doc_id]
            if per_doc["target"] and per_doc["target"][i] != doc.answer:
                raise RecordError(f"task {task}: question {doc_id} has gold {per_doc['target'][i]!r} in the logs, {doc.answer!r} now", where=str(folder),
                                  fix="read the same data copy and settings the evaluation used")
            rate = per_doc["scores"]["pass@1"][i]  # unbiased pass@1 = c / n
            correct = round(rate * n)
            rows.append({"task": task, "doc": doc, "n": n, "correct": correct, "pass_rate": correct / n, "bucket": bucket(correct, n)})
    return rows


def select(rows: list[dict], low: float = 0.0, high: float = 1.0) -> list[dict]:
    """The rows with low < pass rate < high (default: in support, not yet sharpened); one row per
    question (a question evaluated by two tasks keeps its first)."""
    seen, out = set(), []
    for row in rows:
        if low < row["pass_rate"] < high and row["doc"].id not in seen:
            seen.add(row["doc"].id)
            out.append(row)
    return out


def summary(rows: list[dict], kept: list[dict], low: float, high: float) -> dict:
    by_task: dict[str, dict] = {}
    for row in rows:
        entry = by_task.setdefault(row["task"], {"n_samples": row["n"], "questions": 0, **{b: 0 for b in BUCKETS}, "histogram": Counter()})
        entry["questions"] += 1
        entry[row["bucket"]] += 1
        entry["histogram"][row["correct"]] += 1
    for entry in by_task.values():
        entry["histogram"] = [entry["histogram"][c] for c in range(entry["n_samples"] + 1)]  # questions with c = 0, 1, ... n correct
    totals = Counter(row["bucket"] for row in rows)
    return {"questions": len(rows), **{b: totals[b] for b in BUCKETS}, "kept": len(kept), "band": [low, high], "by_task": by_task}


def write(rows: list[dict], output: Path, name: str, low: float = 0.0, high: float = 1.0, provenance: dict | None = None) -> dict:
    """``output/<name>.jsonl`` (the kept questions), ``output/<name>.rates.json`` (every rate and the counts)."""
    from .mcq_jsonl import write_docs

    kept = select(rows, low, high)
    if not kept:
        raise ConfigError(f"no question has a pass rate in ({low:g}, {high:g}): {dict(Counter(r['bucket'] for r in rows))}",
                          fix="sample more (--n), use a stronger start model, or widen the band (--min / --max)")
    jsonl = write_docs([r["doc"] for r in kept], output / f"{name}.jsonl",
                       meta={r["doc"].id: {"pass_rate": r["pass_rate"], "pass_count": r["correct"], "pass_n": r["n"], "pass_task": r["task"]} for r in kept})
    report = {"schema": "medbridge.passrate/1", **summary(rows, kept, low, high), "jsonl": str(jsonl), **(provenance or {}),
              "rates": [{"id": r["doc"].id, "task": r["task"], "n": r["n"], "correct": r["correct"], "pass_rate": r["pass_rate"], "bucket": r["bucket"]} for r in rows]}
    from ..records import write_json_atomic

    write_json_atomic(output / f"{name}.rates.json", report)
    return report


def sample_and_rate(model: str, tasks: list[str], output: Path, *, split: str | None, n: int | None, **eval_options) -> Path:
    """Evaluate the ``_passk`` tasks (on ``split`` with ``n`` samples: derived task YAMLs under
    ``output/tasks``) into ``output/eval``; return that folder."""
    from ..lmms.evaluation import evaluate
    from ..study import tasks as task_yamls

    for task in tasks:
        if not task.endswith("_passk"):
            raise ConfigError(f"{task!r} is greedy: pass rates need samples", fix=f"use {task}_passk")
    folder = output / "tasks"
    suffix = "_".join(part for part in (split, f"n{n}" if n else None) if part)
    names = [task_yamls.derive(t, folder, split=split, repeats=n, suffix=suffix) if suffix else t for t in tasks]
    out = output / "eval"
    evaluate(model, names, out, include_path=[str(folder)] if (split or n) else None, **eval_options)
    return out
