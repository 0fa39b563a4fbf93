"""Normalised result records: one JSON per (model, task, settings), the unit leaderboards use.

A record says what was measured (metrics with standard errors and n), on what (task name and
config hash, data settings, generation settings), with what (model id, checkpoint
fingerprint, backend) and by which software (medbridge, lmms-eval, transformers, torch).

Additive fields (all optional; written by ``medbridge leaderboard add`` or for reported rows):

- ``model.display_name``: the leaderboard row name (default: the hub id's name or the folder
  name); ``model.parent``: display name of the model this one was trained from;
  ``model.stage``: ``base`` | ``sft`` | ``rl``; ``model.trained_on``: the datasets that stage
  trained on (``["organa"]``), which the RL transfer table uses to tell in-domain from transfer.
- ``provenance``: ``{"kind": "measured", "how": ...}`` or ``{"kind": "reported", "citation":
  ..., "where": "Table 2"}``; reported records may leave n and settings null.
- ``per_doc``: ``{"doc_id": [...], "target": [...], "scores": {metric: [...]}}``, one entry per
  question, so that intervals and paired parent/child tests can be computed later. ``medbridge
  eval`` attaches it from the samples it holds (checked to reproduce the record's means);
  ``leaderboard add`` reads it from the sample logs only for folders that lack it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .atomic_write import write_json_atomic  # the project's one atomic writer; re-exported for callers
from .errors import RecordError
from .fingerprint import task_config_hash
from .judge.report import judge_block, validate_judge

SCHEMA = "medbridge.record/1"
PROVENANCE_KINDS = ("measured", "reported")
STAGES = ("base", "sft", "rl")
_STDERR_SUFFIXES = ("_stderr_clt", "_stderr_clustered")


def _clean(value):
    """JSON has no NaN: undefined values (pass@k with n < k) become null, also inside dicts."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def software_versions(*extra: str) -> dict:
    """Installed versions of what a result depends on (None where a package is absent), plus
    the ``extra`` distributions a kind of record also depends on."""
    out = {}
    for dist in ("medbridge", "lmms-eval", "transformers", "torch", "datasets", *extra):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def task_metrics(task_results: dict) -> dict:
    """``{"acc@1,none": .5, "acc@1_stderr,none": .1, ...}`` -> ``{"acc@1": {"value", "stderr", "filter"}}``."""
    metrics: dict[str, dict] = {}
    for key, value in task_results.items():
        if "," not in key:
            continue
        name, filt = key.split(",", 1)
        if name.endswith(_STDERR_SUFFIXES):
            continue
        if name.endswith("_stderr"):
            metrics.setdefault(name[: -len("_stderr")], {})["stderr"] = _clean(value if isinstance(value, (int, float)) else None)
        else:
            entry = metrics.setdefault(name, {})
            entry["value"] = _clean(value)
            entry["filter"] = filt
    return {k: {"value": v.get("value"), "stderr": v.get("stderr"), "filter": v.get("filter")} for k, v in sorted(metrics.items())}


def split_breakdowns(metrics: dict) -> tuple[dict, dict]:
    """Scalar metrics, and the dict-valued ``by_*`` breakdowns ({group: {metric: mean, n}})."""
    scalar = {k: v for k, v in metrics.items() if not isinstance(v["value"], dict)}
    return scalar, {k: v["value"] for k, v in metrics.items() if isinstance(v["value"], dict)}


def utc_now() -> str:
    """A record's ``date``: UTC, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def make_record(*, model: dict, task: dict, data: dict, metrics: dict, provenance: dict, versions: dict, date: str | None, **fields) -> dict:
    """The one constructor of a ``medbridge.record/1`` dict, for every kind (eval, probe,
    baseline, reported): the fields all kinds share, plus the kind's own ``fields`` (counts,
    generation settings, a ``probe``/``baseline`` block, ``per_doc``...). Files are written
    key-sorted, so the order of ``fields`` never shows in them."""
    return {"schema": SCHEMA, "model": model, "task": task, "data": data, "metrics": metrics, **fields,
            "provenance": provenance, "versions": versions, "date": date}


def build_records(results: dict, *, model: str, fingerprint: str, backend: str, model_args: str, data: dict, date: str | None = None) -> list[dict]:
    """One record per evaluated task (groups are derived from tasks, so they get none);
    ``data`` maps each task to what describes its data (source, location, protocol, counts)."""
    date = date or utc_now()
    versions = software_versions()
    records = []
    for task, config in sorted(results["configs"].items()):
        if task not in results["results"]:
            continue
        n = results["n-samples"][task]
        repeats = int(config.get("repeats") or 1)
        generation = dict(config.get("generation_kwargs") or {})
        generation["n"] = repeats
        metrics, breakdowns = split_breakdowns(task_metrics(results["results"][task]))
        judge = judge_block(breakdowns.pop("judge", None))  # who judged, how often it failed (mode "off": nobody)
        records.append(
            make_record(
                model={"id": model, "fingerprint": fingerprint, "backend": backend, "model_args": model_args},
                task={"name": task, "config_hash": task_config_hash(config), "version": (config.get("metadata") or {}).get("version"),
                      "split": config.get("test_split")},
                data=data.get(task, {}),
                metrics=metrics,
                provenance={"kind": "measured", "how": "medbridge eval (lmms-eval)"},
                versions=versions,
                date=date,
                generation=generation,
                n_docs=n["effective"],
                n_docs_available=n["original"],
                n_samples=n["effective"] * repeats,
                limited=n["effective"] < n["original"],
                breakdown=breakdowns,
                judge=judge,
            )
        )
    return records


# ---- per-question scores (``per_doc``): attached by ``medbridge eval`` from the samples it holds,
# and by ``leaderboard add`` from the sample logs of a plain lmms-eval run ----
_MEAN_TOLERANCE = 1e-9


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def per_doc_scores(samples: list[dict], record: dict) -> dict:
    """Per-question scores of the record's metrics from lmms-eval's sample rows, by doc id."""
    rows = sorted(samples, key=lambda s: s.get("doc_id", -1))
    metrics = [m for m in record["metrics"] if rows and m in rows[0]]
    return {
        "doc_id": [int(s["doc_id"]) for s in rows],
        "target": [s.get("target") for s in rows],
        "scores": {m: [_finite(s.get(m)) for s in rows] for m in metrics},
    }


def per_doc_mismatch(per_doc: dict, record: dict) -> str | None:
    """Why these per-question scores are not the ones behind the record's numbers, or None."""
    if len(per_doc["doc_id"]) != record["n_docs"]:
        return f"{len(per_doc['doc_id'])} questions, the record has n_docs={record['n_docs']}"
    if not per_doc["scores"]:
        return "none of the record's metrics appear in the samples"
    for metric, values in per_doc["scores"].items():
        expected = record["metrics"][metric]["value"]
        present = [v for v in values if v is not None]
        if expected is None or not present:
            continue
        mean = math.fsum(present) / len(present)
        if abs(mean - expected) > _MEAN_TOLERANCE:
            return f"mean {metric} {mean:.6f}, the record says {expected:.6f}"
    return None


def attach_per_doc(records: list[dict], samples: dict[str, list[dict]]) -> list[dict]:
    """Give each eval record the per-question scores of the samples this run holds (checked to
    reproduce the record's means), so that nothing has to re-read the sample logs later."""
    for record in records:
        task = record["task"]["name"]
        per_doc = per_doc_scores(samples.get(task) or [], record)
        reason = per_doc_mismatch(per_doc, record)
        if reason is not None:
            raise RecordError(f"task {task}: the samples do not reproduce the record ({reason})", fix="rerun with --fresh; report it if it persists")
        record["per_doc"] = per_doc
        validate_record(record, where=f"record of task {task}")
    return records


def write_records(records: list[dict], folder: Path) -> list[Path]:
    paths = []
    for record in records:
        path = Path(folder) / f"{record['task']['name']}.json"
        write_json_atomic(path, record)
        paths.append(path)
    return paths


def summary_line(record: dict) -> str:
    """``medmnist_breast  n=84  acc@1=0.512±0.055  no_answer_rate=0.012``"""
    parts = [f"{record['task']['name']:<28} n={record['n_docs']:<5}"]
    for name, m in record["metrics"].items():
        value = "nan" if m["value"] is None else f"{m['value']:.3f}"
        if m["stderr"] is not None and m["value"] is not None:
            value += f"±{m['stderr']:.3f}"
        parts.append(f"{name}={value}")
    return "  ".join(parts)


def model_key(record: dict) -> str:
    """The name a model's rows and lineage use: its display name, else its id."""
    return record["model"].get("display_name") or record["model"]["id"]


def _number_or_null(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))


def validate_record(record, where: str) -> dict:
    """Return ``record`` if it is a valid ``medbridge.record/1``, else raise RecordError naming
    the file (``where``) and the field."""

    def bad(what: str, fix: str = "fix the field or re-create the record with `medbridge leaderboard add`"):
        raise RecordError(f"bad result record: {what}", where=where, fix=fix)

    if not isinstance(record, dict):
        bad(f"expected a JSON object, got {type(record).__name__}")
    schema = record.get("schema")
    if schema != SCHEMA:
        bad(f"schema {schema!r} is not {SCHEMA!r}", fix="re-create it from its output folder with `medbridge leaderboard add` (old or foreign records are not read)")
    for key, kind in (("model", dict), ("task", dict), ("metrics", dict), ("provenance", dict)):
        if not isinstance(record.get(key), kind):
            bad(f"missing or non-object field {key!r}")
    model, task, prov = record["model"], record["task"], record["provenance"]
    if not isinstance(model.get("id"), str) or not model["id"]:
        bad("model.id must be a non-empty string")
    for key in ("display_name", "parent"):
        if model.get(key) is not None and (not isinstance(model[key], str) or not model[key]):
            bad(f"model.{key} must be a non-empty string or null")
    if model.get("stage") is not None and model["stage"] not in STAGES:
        bad(f"model.stage {model['stage']!r} is not one of {', '.join(STAGES)}")
    trained_on = model.get("trained_on")
    if trained_on is not None and not (isinstance(trained_on, list) and all(isinstance(t, str) and t for t in trained_on)):
        bad("model.trained_on must be a list of dataset names")
    if not isinstance(task.get("name"), str) or not task["name"]:
        bad("task.name must be a non-empty string")
    for name, metric in record["metrics"].items():
        if not isinstance(metric, dict) or not _number_or_null(metric.get("value")) or not _number_or_null(metric.get("stderr")):
            bad(f"metrics.{name} must be {{'value': number|null, 'stderr': number|null}}")
    kind = prov.get("kind")
    if kind not in PROVENANCE_KINDS:
        bad(f"provenance.kind {kind!r} is not one of {', '.join(PROVENANCE_KINDS)}")
    n_docs = record.get("n_docs")
    if kind == "measured":
        if not isinstance(prov.get("how"), str) or not prov["how"]:
            bad("a measured record needs provenance.how (what produced it)")
        if not isinstance(n_docs, int) or isinstance(n_docs, bool) or n_docs < 1:
            bad(f"a measured record needs n_docs >= 1, got {n_docs!r}")
    else:
        if not isinstance(prov.get("citation"), str) or not prov["citation"]:
            bad("a reported record needs provenance.citation (where the numbers come from)")
        if n_docs is not None and (not isinstance(n_docs, int) or n_docs < 1):
            bad(f"n_docs must be a positive integer or null, got {n_docs!r}")
    if record.get("per_doc") is not None:
        _validate_per_doc(record["per_doc"], n_docs, bad)
    validate_judge(record.get("judge"), bad)
    return record


def _validate_per_doc(per_doc, n_docs, bad) -> None:
    if not isinstance(per_doc, dict) or not isinstance(per_doc.get("doc_id"), list) or not isinstance(per_doc.get("scores"), dict):
        bad("per_doc must be {'doc_id': [...], 'target': [...], 'scores': {metric: [...]}}")
    ids = per_doc["doc_id"]
    if len(ids) != n_docs or len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
        bad(f"per_doc.doc_id must hold {n_docs} distinct integer ids, one per question")
    if per_doc.get("target") is not None and len(per_doc["target"]) != len(ids):
        bad("per_doc.target must have one entry per doc_id")
    for name, values in per_doc["scores"].items():
        if not isinstance(values, list) or len(values) != len(ids) or not all(_number_or_null(v) for v in values):
            bad(f"per_doc.scores.{name} must hold one number (or null) per doc_id")


def read_record(path: Path) -> dict:
    """Load and validate one record file; every problem names the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RecordError(f"cannot read result record: {exc.strerror}", where=str(path)) from exc
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"result record is not valid JSON (line {exc.lineno}: {exc.msg})", where=str(path), fix="fix the file or re-create it with `medbridge leaderboard add`") from exc
    return validate_record(record, str(path))


# ---- lineage from a training run card (medbridge.training writes run_card.json beside the weights) ----
RUN_CARD = "run_card.json"


def read_run_card(model: str | Path) -> dict | None:
    """The run card of a local checkpoint folder, or None when it has none (e.g. a hub model)."""
    path = Path(model).expanduser() / RUN_CARD
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"unreadable run card ({exc})", where=str(path), fix="restore it from the training run, or delete it to evaluate without lineage") from exc
    if not isinstance(card, dict) or not all(isinstance(card.get(k), str) and card[k] for k in ("name", "stage", "parent", "base_model")):
        raise RecordError("run card lacks name, stage, parent or base_model", where=str(path), fix="restore it from the training run")
    return card


def apply_run_card(records: list[dict], card: dict | None) -> list[dict]:
    """Put a run card's lineage into records: the leaderboard row name, parent, stage and
    trained-on datasets (``leaderboard add`` flags still override), plus the card's summary."""
    if not card:
        return records
    for record in records:
        model = record["model"]
        model.setdefault("display_name", card["name"])
        model.setdefault("parent", card["parent"])
        model.setdefault("stage", card["stage"] if card["stage"] in STAGES else None)
        if card.get("trained_on"):
            model.setdefault("trained_on", list(card["trained_on"]))
        record["training"] = {k: card.get(k) for k in ("algorithm", "base_model", "lineage", "parent_fingerprint", "steps", "data")}
    return records
