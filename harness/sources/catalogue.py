"""The dataset catalogue: every MedMNIST dataset and VQA benchmark medbridge ships tasks for,
in the paper's order, with the modality grouping and the labels the leaderboard prints.

Probe, leaderboard, study, CLI and the sources read names from here, so a dataset is added (or
relabelled) in one place. Plain data only: importing it loads neither numpy nor lmms-eval.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DataNotFoundError


@dataclass(frozen=True)
class MedMNISTSet:
    flag: str
    name: str  # short task name: medmnist_<name>
    modality: str  # the paper's table grouping
    question: str


# The paper's Tables 1-2 order and modality groups (OCT sits under visible-light photography there).
MEDMNIST = {
    d.name: d
    for d in [
        MedMNISTSet("breastmnist", "breast", "radiology", "What does this breast ultrasound image show?"),
        MedMNISTSet("chestmnist", "chest", "radiology", "Which finding is present in this chest X-ray?"),
        MedMNISTSet("pneumoniamnist", "pneumonia", "radiology", "What does this pediatric chest X-ray show?"),
        MedMNISTSet("organamnist", "organa", "radiology", "Which organ is shown in this axial abdominal CT image?"),
        MedMNISTSet("organcmnist", "organc", "radiology", "Which organ is shown in this coronal abdominal CT image?"),
        MedMNISTSet("organsmnist", "organs", "radiology", "Which organ is shown in this sagittal abdominal CT image?"),
        MedMNISTSet("bloodmnist", "blood", "microscopy", "Which type of blood cell is shown in this microscopy image?"),
        MedMNISTSet("pathmnist", "path", "microscopy", "Which tissue type is shown in this colorectal histology image?"),
        MedMNISTSet("tissuemnist", "tissue", "microscopy", "Which kidney cell type is shown in this microscopy image?"),
        MedMNISTSet("dermamnist", "derma", "visible_light", "What is the diagnosis for this dermatoscopic image?"),
        MedMNISTSet("octmnist", "oct", "visible_light", "What does this retinal OCT image show?"),
        MedMNISTSet("retinamnist", "retina", "visible_light", "What is the diabetic retinopathy grade of this fundus image?"),
    ]
}
MEDMNIST_BY_FLAG = {d.flag: d for d in MEDMNIST.values()}
MEDMNIST_ORDER = tuple(MEDMNIST)
MEDMNIST_LABELS = {
    "breast": "Breast", "chest": "Chest", "pneumonia": "Pneumonia", "organa": "OrganA", "organc": "OrganC", "organs": "OrganS",
    "blood": "Blood", "path": "Path", "tissue": "Tissue", "derma": "Derma", "oct": "OCT", "retina": "Retina",
}  # fmt: skip
MODALITIES = {"radiology": "Radiology", "microscopy": "Microscopy", "visible_light": "Visible light photography"}

# The paper's Table 3 order; "medvqa" is their unweighted mean.
VQA_BENCHMARKS = ("pmc_vqa", "mmmu_med", "medxpertqa_mm", "pathvqa", "slake", "vqa_rad")
VQA_LABELS = dict(zip(VQA_BENCHMARKS, ("PMC", "MMMU", "MedX-M", "PathVQA", "SLAKE", "VQA-Rad")))


def lookup(name_or_flag: str) -> MedMNISTSet:
    """A MedMNIST dataset by short name (``breast``) or flag (``breastmnist``), any case."""
    key = name_or_flag.lower()
    if key in MEDMNIST:
        return MEDMNIST[key]
    if key in MEDMNIST_BY_FLAG:
        return MEDMNIST_BY_FLAG[key]
    known = ", ".join(sorted(MEDMNIST))
    raise DataNotFoundError(f"unknown MedMNIST dataset {name_or_flag!r}", fix=f"use one of: {known} (or the flag, e.g. breastmnist)")
