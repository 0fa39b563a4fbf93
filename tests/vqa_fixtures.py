"""Tiny copies of every VQA benchmark in its real on-disk layouts, written by the tests."""

from __future__ import annotations

import csv
import io
import json
import pickle
import zipfile
from pathlib import Path

from PIL import Image


def jpeg(path: Path, shade: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (shade, 50, 200 - shade)).save(path, "JPEG")
    return path


def png_bytes(shade: int = 100) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (shade, shade, shade)).save(buf, "PNG")
    return buf.getvalue()


def hf_rows_to_parquet(rows: list[dict], path: Path, image_columns=("image",), image_lists=()) -> Path:
    import datasets

    features = {}
    for key, value in rows[0].items():
        if key in image_columns:
            features[key] = datasets.Image()
        elif key in image_lists:
            features[key] = datasets.Sequence(datasets.Image())
        elif isinstance(value, list):
            features[key] = datasets.Sequence(datasets.Value("string"))
        elif isinstance(value, int):
            features[key] = datasets.Value("int64")
        else:
            features[key] = datasets.Value("string")
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    ds = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(path))
    return path


# VQA-RAD (MEVF json + images/): 2 yes/no closed, 1 closed non-yes/no, 1 open
VQA_RAD_ROWS = [
    {"qid": 1, "image_name": "synpic1.jpg", "image_organ": "CHEST", "answer": "yes", "answer_type": "CLOSED", "question_type": "PRES", "question": "Is there a mass?", "phrase_type": "freeform"},
    {"qid": 2, "image_name": "synpic2.jpg", "image_organ": "HEAD", "answer": "No", "answer_type": "CLOSED", "question_type": "ABN", "question": "Is this normal?", "phrase_type": "freeform"},
    {"qid": 3, "image_name": "synpic1.jpg", "image_organ": "CHEST", "answer": "left", "answer_type": "CLOSED", "question_type": "POS", "question": "Left or right?", "phrase_type": "freeform"},
    {"qid": 4, "image_name": "synpic2.jpg", "image_organ": "HEAD", "answer": "MRI", "answer_type": "OPEN", "question_type": "MODALITY", "question": "What modality?", "phrase_type": "freeform"},
]


# MEVF trainset.json rows: same layout, other questions
VQA_RAD_TRAIN_ROWS = [
    {"qid": 101, "image_name": "synpic2.jpg", "image_organ": "HEAD", "answer": "no", "answer_type": "CLOSED", "question_type": "PRES", "question": "Is there a bleed?", "phrase_type": "freeform"},
    {"qid": 102, "image_name": "synpic1.jpg", "image_organ": "CHEST", "answer": "Yes", "answer_type": "CLOSED", "question_type": "SIZE", "question": "Is the heart enlarged?", "phrase_type": "para"},
    {"qid": 103, "image_name": "synpic1.jpg", "image_organ": "CHEST", "answer": "x-ray", "answer_type": "OPEN", "question_type": "MODALITY", "question": "What imaging is this?", "phrase_type": "freeform"},
]


def vqa_rad_release(root: Path, rows=None, train_rows=None) -> Path:
    """MEVF layout: testset.json (+ trainset.json) and images/."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "testset.json").write_text(json.dumps(rows or VQA_RAD_ROWS))
    if train_rows is not None:
        (root / "trainset.json").write_text(json.dumps(train_rows))
    jpeg(root / "images" / "synpic1.jpg", 10)
    jpeg(root / "images" / "synpic2.jpg", 90)
    return root


def vqa_rad_osf(root: Path) -> Path:
    """OSF layout: one "VQA_RAD Dataset Public.json" holding both splits (phrase_type test_* = test)
    and the "VQA_RAD Image Folder"."""
    root.mkdir(parents=True, exist_ok=True)
    test = [dict(r, phrase_type="test_" + r["phrase_type"]) for r in VQA_RAD_ROWS]
    (root / "VQA_RAD Dataset Public.json").write_text(json.dumps(VQA_RAD_TRAIN_ROWS + test))
    jpeg(root / "VQA_RAD Image Folder" / "synpic1.jpg", 10)
    jpeg(root / "VQA_RAD Image Folder" / "synpic2.jpg", 90)
    return root


def vqa_rad_hf(root: Path) -> Path:
    rows = [{"image": {"bytes": png_bytes(i * 40), "path": None}, "question": q, "answer": a} for i, (q, a) in enumerate([("Is there a mass?", "yes"), ("What organ?", "liver"), ("Is it normal?", "no")])]
    hf_rows_to_parquet(rows, root / "data" / "test-00000-of-00001.parquet")
    hf_rows_to_parquet(rows[:1], root / "data" / "train-00000-of-00001.parquet")
    return root


SLAKE_ROWS = [
    {"img_id": 1, "img_name": "xmlab1/source.jpg", "question": "Does the picture contain liver?", "answer": "Yes", "q_lang": "en", "location": "Abdomen", "modality": "CT", "answer_type": "CLOSED", "base_type": "vqa", "content_type": "Organ", "qid": 10},
    {"img_id": 1, "img_name": "xmlab1/source.jpg", "question": "图片中有肝脏吗?", "answer": "是", "q_lang": "zh", "location": "Abdomen", "modality": "CT", "answer_type": "CLOSED", "base_type": "vqa", "content_type": "Organ", "qid": 11},
    {"img_id": 2, "img_name": "xmlab2/source.jpg", "question": "Is the lung healthy?", "answer": "No", "q_lang": "en", "location": "Lung", "modality": "X-Ray", "answer_type": "CLOSED", "base_type": "vqa", "content_type": "Abnormality", "qid": 12},
    {"img_id": 2, "img_name": "xmlab2/source.jpg", "question": "Which organ is abnormal, heart or lung?", "answer": "Lung", "q_lang": "en", "location": "Lung", "modality": "X-Ray", "answer_type": "CLOSED", "base_type": "vqa", "content_type": "Organ", "qid": 13},
    {"img_id": 2, "img_name": "xmlab2/source.jpg", "question": "What modality is used?", "answer": "X-Ray", "q_lang": "en", "location": "Lung", "modality": "X-Ray", "answer_type": "OPEN", "base_type": "vqa", "content_type": "Modality", "qid": 14},
]


def slake_split_rows(split: str) -> list[dict]:
    """SLAKE rows for train.json / validate.json: the test rows with their own qids."""
    offset = {"train": 1000, "validate": 2000}[split]
    return [dict(r, qid=r["qid"] + offset) for r in SLAKE_ROWS]


def slake_release(root: Path, zipped: bool = False, splits=("test",)) -> Path:
    """The release folder: <split>.json for each of ``splits`` (test, validate, train) and imgs/ (or imgs.zip)."""
    root.mkdir(parents=True, exist_ok=True)
    for split in splits:
        rows = SLAKE_ROWS if split == "test" else slake_split_rows(split)
        (root / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    if zipped:
        with zipfile.ZipFile(root / "imgs.zip", "w") as zf:
            for name in ("xmlab1/source.jpg", "xmlab2/source.jpg"):
                buf = io.BytesIO()
                Image.new("RGB", (32, 32), (30, 60, 90)).save(buf, "JPEG")
                zf.writestr(f"imgs/{name}", buf.getvalue())
    else:
        jpeg(root / "imgs" / "xmlab1" / "source.jpg")
        jpeg(root / "imgs" / "xmlab2" / "source.jpg")
    return root


def pathvqa_release(root: Path, splits=("test",)) -> Path:
    """pvqa/qas/<s>/<s>_qa.pkl + pvqa/images/<s>/ for each of ``splits`` (the release's names: train, val, test)."""
    for split in splits:
        rows = [{"image": f"{split}_0000", "question": "Is this tissue inflamed?", "answer": "yes"}, {"image": f"{split}_0001", "question": "What is shown?", "answer": "fibrosis"},
                {"image": f"{split}_0001", "question": "Are nuclei visible?", "answer": "no"}]
        qa = root / "pvqa" / "qas" / split / f"{split}_qa.pkl"
        qa.parent.mkdir(parents=True)
        qa.write_bytes(pickle.dumps(rows))
        jpeg(root / "pvqa" / "images" / split / f"{split}_0000.jpg")
        jpeg(root / "pvqa" / "images" / split / f"{split}_0001.jpg")
    return root


PMC_TRAIN_ROWS = [
    ["PMC2_F2.jpg", "Which stain was used?", "H&E", "A:Gram", "B:H&E", "C:PAS", "D:Giemsa", "B"],
    ["PMC1_F1.jpg", "Which view is shown?", "Axial", "A:Sagittal", "B:Coronal", "C:Axial", "D:Oblique", ""],  # no label: the Answer text decides
]


def pmc_vqa_release(root: Path, splits=("test",)) -> Path:
    """<split>_2.csv (v2) for each of ``splits`` and images_2/."""
    root.mkdir(parents=True, exist_ok=True)
    header = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]
    test_rows = [
        ["PMC1_F1.jpg", "What imaging was used?", "CT", " A:CT ", " B:MRI", " C:Ultrasound", " D:X-ray", "A"],
        ["PMC2_F2.jpg", "Which organ is enlarged?", "Spleen", "A:Liver", "B:Spleen", "C:Kidney", "D:Heart", "B"],
    ]
    for split in splits:
        with (root / f"{split}_2.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(test_rows if split == "test" else PMC_TRAIN_ROWS)
    jpeg(root / "images_2" / "PMC1_F1.jpg")
    jpeg(root / "images_2" / "PMC2_F2.jpg")
    return root


def pmc_vqa_hf(root: Path) -> Path:
    rows = [{"image": {"bytes": png_bytes(), "path": None}, "input": "What imaging was used?", "label": "C", "A": "CT", "B": "MRI", "C": "Ultrasound", "D": "X-ray", "answer_type": "CLOSED"}]
    hf_rows_to_parquet(rows, root / "PMC-VQA" / "test-00000-of-00001.parquet")
    return root


def mmmu_hf(root: Path) -> Path:
    def row(i, qtype, question, options, answer):
        r = {"id": f"validation_Clinical_Medicine_{i}", "question": question, "options": options, "answer": answer, "question_type": qtype, "subfield": "Heart", "img_type": "['Body Scans: MRI, CT scans, and X-rays']", "explanation": ""}
        for n in range(1, 8):
            r[f"image_{n}"] = {"bytes": png_bytes(n * 20), "path": None} if n <= 2 else None
        return r

    rows = [
        row(1, "multiple-choice", "Compare <image 2> with <image 1>. What changed?", "['Nothing', 'Effusion', 'Mass']", "B"),
        row(2, "open", "Describe <image 1>.", "[]", "free text"),
    ]
    cols = tuple(f"image_{n}" for n in range(1, 8))
    import datasets

    feats = {k: datasets.Value("string") for k in rows[0] if k not in cols}
    feats.update({c: datasets.Image() for c in cols})
    ds = datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in rows[0]}, features=datasets.Features(feats))
    (root / "Clinical_Medicine").mkdir(parents=True)
    ds.to_parquet(str(root / "Clinical_Medicine" / "validation-00000-of-00001.parquet"))
    ds.select([0]).to_parquet(str(root / "Clinical_Medicine" / "dev-00000-of-00001.parquet"))
    return root


MXQ_ROW = {
    "id": "MM-1",
    "question": "A 40-year-old man presents with chest pain. What is the diagnosis?\nAnswer Choices: (A) MI (B) PE (C) GERD (D) Pneumonia (E) Costochondritis",
    "options": {"A": "MI", "B": "PE", "C": "GERD", "D": "Pneumonia", "E": "Costochondritis"},
    "label": "B",
    "images": ["MM-1-a.jpeg", "MM-1-b.jpeg"],
    "medical_task": "Diagnosis",
    "body_system": "Cardiovascular",
    "question_type": "Reasoning",
}


def medxpertqa_release(root: Path, zipped: bool = False) -> Path:
    (root / "MM").mkdir(parents=True)
    (root / "MM" / "test.jsonl").write_text(json.dumps(MXQ_ROW) + "\n")
    if zipped:
        with zipfile.ZipFile(root / "images.zip", "w") as zf:
            for name in MXQ_ROW["images"]:
                buf = io.BytesIO()
                Image.new("RGB", (32, 32)).save(buf, "JPEG")
                zf.writestr(f"images/{name}", buf.getvalue())
    else:
        for name in MXQ_ROW["images"]:
            jpeg(root / "images" / name)
    return root


def medvlthinker_row(i: int, name: str, options: dict, label: str, raw_options: str | None = None, misc: str = "{}") -> dict:
    """One hub row; ``raw_options`` replaces the JSON string of ``options`` (other encodings)."""
    return {"images": [{"bytes": png_bytes(i), "path": None}], "question": f"Question {i}?", "options": raw_options if raw_options is not None else json.dumps(options),
            "answer_label": label, "answer": options.get(label, ""), "reasoning": "", "dataset_name": name, "dataset_index": i, "hash": f"h{i}", "misc": misc}


def medvlthinker_hf(root: Path, rows: list[dict] | None = None) -> Path:
    row = medvlthinker_row
    rows = rows or [
        row(0, "vqa_rad_closed", {"A": "Yes", "B": "No"}, "B"),
        row(1, "vqa_rad_closed", {"A": "left", "B": "right"}, "A"),
        row(2, "slake_closed", {"A": "Yes", "B": "No"}, "A"),
        row(3, "pmc_vqa", {"A": "CT", "B": "MRI", "C": "PET", "D": "US"}, "D"),
        row(4, "MMMU-medical", {"A": "a", "B": "b", "C": "c"}, "C"),
        row(5, "MedXpertQA-MM", {"A": "1", "B": "2", "C": "3", "D": "4", "E": "5"}, "E"),
        row(6, "pathvqa_closed", {"A": "Yes", "B": "No"}, "A"),
    ]
    hf_rows_to_parquet(rows, root / "data" / "test-00000-of-00001.parquet", image_columns=(), image_lists=("images",))
    return root
