"""The paper's reported numbers (Tables 1-3) as ``reported`` records.

Transcribed once from the paper's text, in percent as printed, and stored as fractions like every
record. ``medbridge leaderboard seed-paper`` writes them into ``leaderboards/results/``; a test
checks that the committed files are exactly what this module produces. The paper prints no
question counts, so reported rows carry no n and no interval.

The paper's roles: M_Base = Qwen2.5-VL-7B-Instruct, M_SFT = OctoMed-7B (medical SFT of it),
M_RL = QoQ-Med-7B (RL-post-trained from it); "Ours (7B)" is RL post-training of OctoMed-7B on
8,000 balanced PMC-VQA questions (section 4).
"""

from __future__ import annotations

from pathlib import Path

from ..records import make_record
from ..sources.catalogue import MEDMNIST_ORDER, VQA_BENCHMARKS
from .store import resolve_root, write_record

CITATION = "When Does RL Help Medical VLMs? Disentangling Vision, SFT, and RL Gains (https://medbridgerl.github.io)"

QWEN, OCTOMED, QOQ, OURS = "Qwen2.5-VL-7B-Instruct", "OctoMed-7B", "QoQ-Med-7B", "Ours-7B (paper)"
# display name -> (model id, parent, stage, trained_on); lineage only where the paper states it
MODELS = {
    "MedViT-V2": ("MedViT-V2", None, None, None),
    QWEN: ("Qwen/Qwen2.5-VL-7B-Instruct", None, "base", None),
    OCTOMED: (OCTOMED, QWEN, "sft", None),
    QOQ: (QOQ, QWEN, "rl", None),
    OURS: (OURS, OCTOMED, "rl", ["pmc_vqa"]),
    "MedVLThinker-7B": ("MedVLThinker-7B", None, None, None),
    "MedVLM-R1-2B": ("MedVLM-R1-2B", None, None, None),
    "Med-R1-2B": ("Med-R1-2B", None, None, None),
}

TABLE1 = {  # linear-probe accuracy of the frozen vision tower; MedViT-V2 is the vision-only reference
    "MedViT-V2": (91.00, 96.70, 97.30, 97.30, 96.10, 85.10, 98.70, 97.10, 71.60, 81.70, 95.20, 57.80),
    QWEN: (80.95, 13.33, 92.52, 85.27, 79.31, 65.70, 96.19, 89.12, 48.26, 65.22, 84.30, 44.00),
    OCTOMED: (84.52, 16.51, 93.35, 89.01, 83.59, 70.90, 96.19, 93.35, 51.99, 67.08, 91.10, 52.00),
    QOQ: (75.00, 16.19, 92.95, 85.52, 80.35, 64.96, 96.86, 88.50, 52.88, 69.57, 84.80, 51.00),
}
TABLE2 = {  # greedy Accuracy@1 on the MedMNIST multiple-choice prompts
    QWEN: (54.99, 8.70, 50.53, 14.39, 10.94, 13.14, 13.16, 26.48, 10.39, 33.54, 32.62, 20.19),
    OCTOMED: (79.17, 13.22, 86.00, 18.66, 16.03, 19.38, 76.00, 64.53, 12.66, 52.33, 82.78, 22.19),
    QOQ: (69.79, 8.03, 62.41, 10.91, 8.94, 10.75, 13.95, 34.09, 8.96, 27.48, 28.72, 20.62),
}
TABLE3 = {  # six medical VQA benchmarks, then the printed Avg.
    QWEN: (53.00, 55.29, 23.50, 65.00, 68.00, 74.00, 56.47),
    QOQ: (51.00, 61.18, 25.00, 63.50, 68.50, 74.00, 57.20),
    "MedVLThinker-7B": (55.00, 54.12, 27.50, 57.50, 63.50, 64.00, 53.60),
    OCTOMED: (55.50, 56.47, 35.00, 63.00, 84.00, 79.00, 62.16),
    "MedVLM-R1-2B": (50.50, 39.41, 22.50, 61.50, 71.00, 63.50, 51.40),
    "Med-R1-2B": (53.00, 41.18, 23.50, 66.50, 69.50, 62.00, 52.61),
    OURS: (59.00, 62.94, 34.50, 65.50, 88.00, 79.00, 64.91),
}
NOTES = {
    "Table 1": "linear probe on the frozen vision encoder, MedMNIST-v2 balanced test subsets (accuracy)",
    "Table 2": "greedy Accuracy@1, MCQ prompt with <think>/<answer> tags; the paper checks answers with Qwen2.5-VL-32B-Instruct",
    "Table 3": "accuracy on six medical VQA benchmarks under one decoding setting; medvqa = the printed Avg. (unweighted mean of six)",
}


def reported_record(model: str, task: str, metric: str, percent: float, where: str) -> dict:
    model_id, parent, stage, trained_on = MODELS[model]
    entry = {"id": model_id, "display_name": model, "fingerprint": None, "backend": None, "model_args": None}
    entry.update({k: v for k, v in (("parent", parent), ("stage", stage), ("trained_on", trained_on)) if v is not None})
    return make_record(
        model=entry, task={"name": task, "config_hash": None, "version": None}, data={},
        metrics={metric: {"value": round(percent / 100, 6), "stderr": None, "filter": None}},
        provenance={"kind": "reported", "citation": CITATION, "where": where, "note": NOTES[where]}, versions={}, date=None,
        generation={}, n_docs=None, n_docs_available=None, n_samples=None, limited=False,
    )


def paper_records() -> list[dict]:
    records = []
    for model, row in TABLE1.items():
        prefix = "baseline_medmnist_" if model == "MedViT-V2" else "probe_medmnist_"
        records += [reported_record(model, prefix + name, "acc", v, "Table 1") for name, v in zip(MEDMNIST_ORDER, row)]
    for model, row in TABLE2.items():
        records += [reported_record(model, "medmnist_" + name, "acc@1", v, "Table 2") for name, v in zip(MEDMNIST_ORDER, row)]
    for model, row in TABLE3.items():
        records += [reported_record(model, task, "acc@1", v, "Table 3") for task, v in zip((*VQA_BENCHMARKS, "medvqa"), row)]
    return records


def seed_paper(root: str | Path | None = None) -> list[Path]:
    """Write the paper's reported records into a leaderboard folder."""
    root = resolve_root(root, create=True)
    return [write_record(root, record) for record in paper_records()]
