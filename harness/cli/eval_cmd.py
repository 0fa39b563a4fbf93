"""``medbridge eval``: run tasks through lmms-eval and write normalised records."""

from __future__ import annotations

import os
import sys

from ..errors import ConfigError

MEDBRIDGE_BACKENDS = ("medbridge_hf", "medbridge_vllm", "medbridge_openai")


def add_parser(sub) -> None:
    from .judge_cmd import add_judge_arguments

    p = sub.add_parser("eval", help="evaluate a checkpoint on medbridge tasks (lmms-eval underneath)")
    add_arguments(p)
    add_judge_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p, required: bool = True) -> None:
    p.add_argument("--model", required=required, help="checkpoint folder or hub id (e.g. Qwen/Qwen2.5-VL-7B-Instruct)")
    p.add_argument("--tasks", required=required, help="comma-separated task or group names, e.g. medmnist,medmnist_passk")
    p.add_argument("--output", required=required, help="output folder (records/, lmms_eval/, groups.json)")
    p.add_argument("--backend", default="medbridge_hf", help="lmms-eval model name: medbridge_hf (default), medbridge_vllm, medbridge_openai, or any lmms-eval model such as qwen2_5_vl")
    p.add_argument("--model-args", default=None, help="extra lmms-eval model_args, e.g. max_pixels=12544,attn_implementation=sdpa")
    p.add_argument("--gen-kwargs", default=None, help="generation overrides merged on the task YAML's, e.g. max_new_tokens=512,temperature=1.0")
    p.add_argument("--limit", type=float, default=None, help="only the first N docs per task (testing only)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--data-root", default=None, help="MedMNIST npz folder (default: $MEDMNIST_ROOT, else ~/.medmnist)")
    p.add_argument("--size", type=int, default=None, choices=[28, 64, 128, 224], help="MedMNIST image size (default: $MEDMNIST_SIZE, else 224)")
    p.add_argument("--per-class", type=int, default=None, help="cap questions per class in the balanced subsets (default: none, as in the paper)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (same seed and settings give the same samples)")
    p.add_argument("--no-cache", action="store_true", help="medbridge backends: neither read nor write the sample cache")
    p.add_argument("--fresh", action="store_true", help="medbridge backends: regenerate everything and overwrite the cache")
    p.add_argument("--data", action="append", default=None, metavar="BENCHMARK=PATH", help="local copy of a dataset: a VQA benchmark (vqa_rad=/data/vqa_rad) or one MedMNIST npz of any name "
                   "(pneumonia=/data/pneumoniamnist_partial.npz); repeatable; same as MEDBRIDGE_DATA_<BENCHMARK or FLAG>")
    p.add_argument("--include-path", action="append", default=None, help="extra folder of task YAMLs (repeatable)")


def key_values(text: str | None, flag: str) -> str | None:
    """Check a ``k=v[,k=v...]`` switch before lmms-eval parses it (its own parser fails with
    "not enough values to unpack" on anything else)."""
    if text is None:
        return None
    if not all(key.strip() and sep for key, sep, _ in (part.partition("=") for part in text.split(","))):
        raise ConfigError(f"{flag} {text!r} is not key=value[,key=value...]", fix=f"e.g. {flag} {_EXAMPLES[flag]}")
    return text


_EXAMPLES = {"--gen-kwargs": "max_new_tokens=512,temperature=1.0", "--model-args": "max_pixels=12544,attn_implementation=sdpa"}


def checked_limit(limit: float | None) -> int | float | None:
    """lmms-eval reads --limit as a doc count (>= 1) or, below 1, a fraction of each task."""
    if limit is None:
        return None
    if 0 < limit < 1:
        return limit
    if limit >= 1 and limit == int(limit):
        return int(limit)
    raise ConfigError(f"--limit must be a whole number >= 1 (docs per task) or a fraction between 0 and 1, got {limit:g}", fix="e.g. --limit 8 or --limit 0.1 (testing only)")


def check_backend(backend: str) -> None:
    """An unknown backend is one line with the closest names (lmms-eval's own error lists all 120)."""
    import difflib

    if backend in MEDBRIDGE_BACKENDS:  # ours are known: no lmms-eval import (seconds) before the data is checked
        return
    from lmms_eval.models import list_available_models

    names = list_available_models(include_aliases=True)
    if backend not in names:
        close = difflib.get_close_matches(backend, names, n=2)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown backend {backend!r}{hint}", fix="medbridge's are medbridge_hf, medbridge_vllm, medbridge_openai; `lmms-eval models` lists the others")


def check_vision_checkpoint(model_ref: str) -> None:
    """Refuse a checkpoint with no vision tower from its config alone, before any weight is read
    (loading it would end in a page of transformers' auto-class list)."""
    import json
    from pathlib import Path

    from ..errors import CheckpointError

    try:  # the common case, a local VLM, needs no transformers import (seconds)
        if json.loads((Path(model_ref) / "config.json").read_text()).get("vision_config"):
            return
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_ref)
    except (OSError, ValueError, KeyError):  # an unknown architecture: the backend's own loader says more
        return
    if getattr(config, "vision_config", None) is None:
        raise CheckpointError(f"checkpoint has no vision tower (model_type {getattr(config, 'model_type', '?')!r}, no vision_config)", where=model_ref,
                              fix="medbridge evaluates vision-language models: pass one, e.g. Qwen/Qwen2.5-VL-7B-Instruct")


def run(args) -> int:
    from ..judge.report import check_error_rates
    from ..judge.report import judge_summary_line as judge_line
    from ..records import summary_line
    from .judge_cmd import judge_env

    records = evaluate_from_args(args, judge=judge_env(args))
    if not records and os.environ.get("RANK", "0") != "0":
        return 0  # torchrun: rank 0 writes and reports
    for record in records:
        print(summary_line(record))
    print(f"medbridge: {len(records)} record(s) written to {args.output}/records", file=sys.stderr)
    if judge_line(records):
        print(judge_line(records), file=sys.stderr)
    check_error_rates(records)  # raises (exit 2) when a task's judge error rate passes its limit
    return 0


def evaluate_from_args(args, judge: dict[str, str] | None = None) -> list[dict]:
    from ..fingerprint import check_checkpoint
    from ..lmms.evaluation import evaluate

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    data = {}
    for entry in args.data or []:
        name, sep, path = entry.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--data {entry!r} is not BENCHMARK=PATH", fix="e.g. --data vqa_rad=/data/vqa_rad")
        data[name.strip()] = path.strip()
    limit = checked_limit(args.limit)
    key_values(args.gen_kwargs, "--gen-kwargs")
    key_values(args.model_args, "--model-args")
    served = args.backend == "medbridge_openai"  # a name at an address, not a checkpoint here
    model_ref = args.model if served else check_checkpoint(args.model)
    check_backend(args.backend)
    if not served:
        check_vision_checkpoint(model_ref)
    return evaluate(
        args.model,
        tasks,
        args.output,
        backend=args.backend,
        model_args=args.model_args,
        gen_kwargs=args.gen_kwargs,
        limit=limit,
        device=args.device,
        batch_size=args.batch_size,
        data_root=args.data_root,
        size=args.size,
        per_class=args.per_class,
        seed=args.seed,
        cache=not args.no_cache,
        fresh=args.fresh,
        include_path=args.include_path,
        data=data,
        judge=judge,
    )
