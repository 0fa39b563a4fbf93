"""``medbridge leaderboard add``: evaluation output folders -> leaderboard records.

Two kinds of folder are read:

- a ``medbridge eval --output`` folder: its ``records/*.json`` plus lmms-eval's per-sample logs
  under ``lmms_eval/``;
- a plain ``lmms-eval --output_path ... --log_samples`` folder: every ``*_results.json`` and the
  ``*_samples_<task>.jsonl`` written beside it (records are built the way ``medbridge eval``
  builds them; data settings are unknown there and left empty).

Each record carries the per-question scores (``per_doc``, attached by ``medbridge eval``; for a plain
lmms-eval folder or an older medbridge one, read from the sample logs), which the pages need
for intervals and paired parent/child tests, and the lineage the user gives. Everything is
checked before anything is written: a bad folder leaves the leaderboard untouched.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from ..errors import ConfigError, RecordError
from ..fingerprint import checkpoint_fingerprint, looks_like_path
from ..records import STAGES, build_records, per_doc_mismatch, per_doc_scores, read_record, validate_record
from .store import resolve_root, write_record


def default_name(model_id: str) -> str:
    """``Qwen/Qwen2.5-VL-7B-Instruct`` -> ``Qwen2.5-VL-7B-Instruct``; a folder -> its name, so a
    measured row sits beside the paper's reported row of the same model."""
    return Path(model_id.rstrip("/")).name or model_id


def canonical_dataset(name: str) -> str:
    """Training-set names as the transfer table compares them: MedMNIST ``organa`` /
    ``medmnist_organa`` / ``OrganAMNIST`` all become ``organa``; anything else lower-cased."""
    from ..sources.catalogue import MEDMNIST, MEDMNIST_BY_FLAG

    key = name.strip().lower()
    key = key.removeprefix("medmnist_").removesuffix("_passk")
    if key in MEDMNIST:
        return key
    if key in MEDMNIST_BY_FLAG:
        return MEDMNIST_BY_FLAG[key].name
    return key


def _read_samples(path: Path) -> list[dict]:
    lines = []
    with path.open() as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise RecordError(f"samples file line {number} is not JSON ({exc.msg})", where=str(path), fix="re-run the evaluation") from exc
    return lines


def attach_samples(record: dict, candidates: list[Path], where: str, require: bool = True) -> dict:
    """Add ``per_doc`` from the newest samples file whose scores reproduce the record. A record
    that already carries ``per_doc`` (``medbridge eval``'s, a probe's) keeps it, once it is
    checked to reproduce the record's numbers (a hand-edited value is refused)."""
    if record.get("per_doc") is not None:
        reason = per_doc_mismatch(record["per_doc"], record)
        if reason is not None:
            raise RecordError(f"the per-question scores of task {record['task']['name']!r} do not reproduce its record ({reason})",
                              where=where, fix="re-run the evaluation into a fresh output folder")
        return record
    if not candidates and not require:
        return record
    if not candidates:
        raise RecordError(
            f"no per-question samples for task {record['task']['name']!r}",
            where=where,
            fix="evaluate with `medbridge eval` or lmms-eval's --log_samples (paired tests need them), or pass --without-samples",
        )
    reasons = []
    for path in sorted(candidates, key=lambda p: p.name, reverse=True):
        per_doc = per_doc_scores(_read_samples(path), record)
        reason = per_doc_mismatch(per_doc, record)
        if reason is None:
            return {**record, "per_doc": per_doc}
        reasons.append(f"{path.name}: {reason}")
    raise RecordError(
        f"no samples file matches the record of task {record['task']['name']!r} ({'; '.join(reasons)})",
        where=where,
        fix="re-run the evaluation into a fresh output folder",
    )


def _from_medbridge(folder: Path, require: bool) -> list[dict]:
    records = []
    for file in sorted((folder / "records").glob("*.json")):
        record = read_record(file)
        task = record["task"]["name"]
        candidates = list((folder / "lmms_eval").rglob(f"*_samples_{task}.jsonl"))
        records.append(attach_samples(record, candidates, str(file), require))
    return records


def _from_lmms_eval(results_files: list[Path], require: bool) -> list[dict]:
    records = []
    for file in sorted(results_files):
        results = json.loads(file.read_text())
        config = results.get("config") or {}
        model_args = str(config.get("model_args") or "")
        args = dict(part.split("=", 1) for part in model_args.split(",") if "=" in part)
        model = args.get("pretrained") or args.get("model") or results.get("model_name") or "unknown"
        if looks_like_path(model) and not Path(model).expanduser().exists():
            fingerprint = "unavailable: checkpoint folder not found when added"
        else:
            fingerprint = checkpoint_fingerprint(model)
        stamp = file.name[: -len("_results.json")]
        built = build_records(results, model=model, fingerprint=fingerprint, backend=str(config.get("model")), model_args=model_args, data={}, date=results.get("date"))
        for record in built:
            record["provenance"]["how"] = "lmms-eval output with --log_samples, added by medbridge leaderboard add (data settings not recorded)"
            # the software that ran is what lmms-eval wrote down, not what is installed now
            record["versions"] = {"lmms-eval": results.get("lmms_eval_version")}
            candidates = [file.parent / f"{stamp}_samples_{record['task']['name']}.jsonl"]
            records.append(attach_samples(record, [c for c in candidates if c.is_file()], str(file), require))
    return records


def collect(output: str | Path, require_samples: bool = True) -> list[dict]:
    """Records (with per-question scores) from one evaluation output folder; without
    ``require_samples`` a record with no sample log is kept without them (intervals then come
    from value and n, and its rows get no paired test)."""
    folder = Path(output)
    if not folder.is_dir():
        raise ConfigError("evaluation output folder does not exist", where=str(folder), fix="pass the folder given to `medbridge eval --output` or `lmms-eval --output_path`")
    if (folder / "records").is_dir() and any((folder / "records").glob("*.json")):
        return _from_medbridge(folder, require_samples)
    results_files = list(folder.rglob("*_results.json"))
    if results_files:
        return _from_lmms_eval(results_files, require_samples)
    raise ConfigError(
        "no results in this folder: expected records/*.json (medbridge eval) or *_results.json (lmms-eval)",
        where=str(folder),
        fix="pass the folder given to `medbridge eval --output` or `lmms-eval --output_path`",
    )


def prepare(
    records: list[dict],
    *,
    name: str | None = None,
    parent: str | None = None,
    stage: str | None = None,
    trained_on: list[str] | None = None,
    allow_limited: bool = False,
) -> list[dict]:
    """Set display name and lineage on copies of ``records``; refuse partial evaluations."""
    models = sorted({r["model"]["id"] for r in records})
    if name and len(models) > 1:
        raise ConfigError(f"--name given but the folder holds {len(models)} models ({', '.join(models)})", fix="add each model's subfolder separately")
    if stage is not None and stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}", fix=f"use one of: {', '.join(STAGES)}")
    out = []
    for record in records:
        record = copy.deepcopy(record)
        record.pop("_file", None)
        if record.get("limited") and not allow_limited:
            raise ConfigError(
                f"task {record['task']['name']!r} was evaluated on a --limit subset ({record['n_docs']} of {record.get('n_docs_available')} questions)",
                fix="leaderboards hold full evaluations: re-run without --limit, or pass --allow-limited",
            )
        model = record["model"]
        model["display_name"] = name or model.get("display_name") or default_name(model["id"])
        if parent is not None:
            if parent == model["display_name"]:
                raise ConfigError(f"model {parent!r} cannot be its own parent", fix="pass the name of the model it was trained from")
            model["parent"] = parent
        if stage is not None:
            model["stage"] = stage
        if trained_on:
            model["trained_on"] = sorted({canonical_dataset(t) for t in trained_on})
        out.append(validate_record(record, f"record for task {record['task']['name']}"))
    return out


def add_output(output: str | Path, root: str | Path | None = None, *, require_samples: bool = True, **lineage) -> list[Path]:
    """Add every task of one evaluation output folder to the leaderboard; return the files."""
    records = prepare(collect(output, require_samples), **lineage)  # all checks before any folder is made
    root = resolve_root(root, create=True)
    return [write_record(root, record) for record in records]
