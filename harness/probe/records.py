"""Probe and baseline results as normalised records (``medbridge.record/1``, the same top-level
fields ``medbridge eval`` writes), so one leaderboard renders Table 1 from all of them.

Metric names mean the same in both kinds:

| metric | evaluated on |
|---|---|
| ``acc``, ``auc`` | the paper's protocol: the seeded class-balanced subset of the test split (Table 1's denominators) |
| ``acc_full``, ``auc_full`` | every row of the test split (MedMNIST v2's published protocol) |
| ``val_acc``, ``val_auc`` | the val split, where model selection happened |

A baseline record adds ``acc_full_last`` / ``auc_full_last`` (the last epoch's model, for
comparison with scripts that kept no best copy). ChestMNIST probes use the single-finding rows
(14 classes) throughout; the ``evaluation`` block of each record says which rows were used.
Head / architecture settings, selection and per-epoch history live in a ``probe`` or
``baseline`` block; ``per_doc`` holds each balanced-subset question's ``acc`` (0/1), so the
leaderboard can compute intervals and paired tests without a sample log.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic_write import write_json_atomic
from ..fingerprint import config_hash
from ..records import make_record, software_versions, utc_now
from .metrics import binomial_stderr

EVALUATION = {
    "acc": "class-balanced subset of the test split (k = smallest class count per class, seed 0), the paper's protocol",
    "acc_full": "every row of the test split, MedMNIST v2's protocol",
}


# Probe and baseline records also name the libraries their numbers depend on.
_PROBE_DISTRIBUTIONS = ("torchvision", "scikit-learn", "numpy")


def metric(value, n: int | None = None, accuracy_like: bool = False) -> dict:
    stderr = binomial_stderr(value, n) if accuracy_like and value is not None and n else None
    return {"value": value, "stderr": stderr, "filter": "none"}


def scores_to_metrics(balanced: dict, full: dict, val: dict, multi_label: bool = False) -> dict:
    """``score_block`` dicts -> record metrics (accuracy stderr is binomial; none for AUC, and
    none for multi-label accuracy, whose per-label rows are not independent)."""
    single = not multi_label
    return {
        "acc": metric(balanced["acc"], balanced["n"], single),
        "auc": metric(balanced["auc"]),
        "acc_full": metric(full["acc"], full["n"], single),
        "auc_full": metric(full["auc"]),
        "val_acc": metric(val["acc"], val["n"], single),
        "val_auc": metric(val["auc"]),
    }


def per_doc(rows, y, scores, multi_label: bool = False) -> dict:
    """Per-question ``acc`` on the balanced test subset (the leaderboard's intervals and paired
    tests use it): ``doc_id`` is the row of the test split, ``target`` its class."""
    import numpy as np

    rows = np.sort(np.asarray(rows))
    if multi_label:
        correct = ((scores[rows] > 0.5) == (y[rows] > 0)).mean(1)
        target = [[int(v) for v in y[i]] for i in rows]
    else:
        correct = (scores[rows].argmax(1) == y[rows]).astype(float)
        target = [int(y[i]) for i in rows]
    return {"doc_id": [int(i) for i in rows], "target": target, "scores": {"acc": [float(c) for c in correct]}}


def build_probe_record(*, task: str, model: dict, config: dict, data: dict, n_docs: int, n_docs_full: int, metrics: dict, how: str, block: str,
                       details: dict, evaluation: dict | None = None, date: str | None = None, per_doc: dict | None = None) -> dict:
    """A probe (``block="probe"``) or baseline (``block="baseline"``) record."""
    return make_record(
        model=model, task={"name": task, "config_hash": config_hash(config), "version": 1}, data=data, metrics=metrics,
        provenance={"kind": "measured", "how": how}, versions=software_versions(*_PROBE_DISTRIBUTIONS), date=date or utc_now(),
        n_docs=n_docs, n_docs_full=n_docs_full, evaluation=evaluation or dict(EVALUATION), per_doc=per_doc, **{block: details},
    )


def write_probe_record(record: dict, folder: str | Path, variant: str) -> Path:
    """``<folder>/records/<task>.<variant>.json``: one file per (task, head/arch settings)."""
    path = Path(folder) / "records" / f"{record['task']['name']}.{variant}.json"
    write_json_atomic(path, record)
    return path


def probe_summary_line(record: dict) -> str:
    m = record["metrics"]

    def fmt(name):
        value = m[name]["value"]
        if value is None:
            return f"{name}=n/a"
        return f"{name}={value:.3f}" + (f"±{m[name]['stderr']:.3f}" if m[name]["stderr"] is not None else "")

    what = record.get("probe", {}).get("head") or record.get("baseline", {}).get("arch", "")
    return (f"{record['task']['name']:<28} {what:<8} n={record['n_docs']:<5} {fmt('acc')}  {fmt('auc')}   "
            f"full test n={record['n_docs_full']}: {fmt('acc_full')}  {fmt('auc_full')}")
