"""``medbridge data balance`` and ``medbridge data passrate``: RL training data from VQA and
MedMNIST questions (a modality-balanced subset; the questions a model answers sometimes)."""

from __future__ import annotations

import sys


def add_subparsers(dsub) -> None:
    b = dsub.add_parser("balance", help="modality-balanced subset of a VQA train split (paper section 4), as MCQ-doc JSONL")
    b.add_argument("benchmark", help="VQA benchmark, e.g. pmc_vqa (local copy: MEDBRIDGE_DATA_PMC_VQA or --data)")
    how = b.add_mutually_exclusive_group(required=True)
    how.add_argument("--classifier", help="VLM that labels each question's imaging modality (checkpoint folder or hub id)")
    how.add_argument("--labels", help="labels from a file instead: CSV or JSONL with id (or figure + question) and label")
    b.add_argument("--size", type=int, default=8000, help="questions in the subset (default 8000, the paper's)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--output", required=True, help="folder: <name>.jsonl + images/, balance_card.json, labels.jsonl (the classifier's cache)")
    b.add_argument("--split", default="train", help="split to draw from (default train)")
    b.add_argument("--data", default=None, help="local copy of the benchmark (same as MEDBRIDGE_DATA_<BENCHMARK>)")
    b.add_argument("--template", default=None, help="categories + prompt YAML (default: medbridge's modality template)")
    b.add_argument("--keep-none", action="store_true", help="draw from the `none` label too (uncommon / ambiguous / unstated modality)")
    b.add_argument("--batch-size", type=int, default=8, help="questions per classifier call")
    b.add_argument("--max-new-tokens", type=int, default=16)
    b.add_argument("--max-pixels", type=int, default=None, help="image budget of the classifier's processor (Qwen: e.g. 802816)")
    b.add_argument("--device", default=None)
    b.add_argument("--limit", type=int, default=None, help="only the first N questions (testing)")
    b.add_argument("--fresh", action="store_true", help="discard cached labels in --output")
    b.set_defaults(func=balance)

    p = dsub.add_parser("passrate", help="per-question pass rates over n samples; the 0 < rate < 1 subset as MCQ-doc JSONL")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="sample this checkpoint on --tasks now")
    src.add_argument("--from", dest="from_dir", help="use an existing `medbridge eval --output` folder (its _passk sample logs)")
    p.add_argument("--tasks", default=None, help="comma-separated _passk tasks (with --model), e.g. medmnist_pneumonia_passk")
    p.add_argument("--split", default=None, help="evaluate the tasks on this split (train for RL data); default: the task's own")
    p.add_argument("--n", type=int, default=None, help="samples per question (default: the task's, 16)")
    p.add_argument("--output", required=True, help="folder: <name>.jsonl + images/ and <name>.rates.json")
    p.add_argument("--name", default="passrate", help="file name stem (default passrate)")
    p.add_argument("--min", type=float, default=0.0, dest="low", help="keep pass rates above this (default 0)")
    p.add_argument("--max", type=float, default=1.0, dest="high", help="keep pass rates below this (default 1)")
    p.add_argument("--data-root", default=None, help="MedMNIST folder (with --model)")
    p.add_argument("--size", type=int, default=None, choices=[28, 64, 128, 224])
    p.add_argument("--per-class", type=int, default=None)
    p.add_argument("--backend", default="medbridge_hf")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", action="append", default=None, metavar="BENCHMARK=PATH", help="local copy of a VQA benchmark (repeatable)")
    p.set_defaults(func=passrate)


def _say(line: str) -> None:
    print(f"medbridge: {line}", file=sys.stderr, flush=True)


def balance(args) -> int:
    from ..curate.balance import run_balance
    from ..host import environment

    extra = {}
    if args.data:
        from ..sources.vqa import check_name, env_var

        extra[env_var(check_name(args.benchmark))] = args.data
    with environment(extra):
        card = run_balance(args.benchmark, args.output, split=args.split, classifier=args.classifier, labels=args.labels, size=args.size,
                           seed=args.seed, template=args.template, keep_none=args.keep_none, batch_size=args.batch_size,
                           max_new_tokens=args.max_new_tokens, max_pixels=args.max_pixels, device=args.device, limit=args.limit,
                           fresh=args.fresh, say=_say)
    print(card["jsonl"])
    return 0


def passrate(args) -> int:
    from pathlib import Path

    from ..curate import passrate as pr
    from ..errors import ConfigError

    if not 0 <= args.low < args.high <= 1:
        raise ConfigError(f"--min {args.low} / --max {args.high}: need 0 <= min < max <= 1")
    output = Path(args.output)
    if args.model:
        if not args.tasks:
            raise ConfigError("--model needs --tasks (the _passk tasks to sample)", fix="e.g. --tasks medmnist_pneumonia_passk --split train")
        data = dict(entry.split("=", 1) for entry in args.data or [])
        folder = pr.sample_and_rate(args.model, [t.strip() for t in args.tasks.split(",") if t.strip()], output, split=args.split, n=args.n,
                                    backend=args.backend, batch_size=args.batch_size, data_root=args.data_root, size=args.size,
                                    per_class=args.per_class, seed=args.seed, data=data or None)
    else:
        if args.tasks or args.split or args.n:
            raise ConfigError("--tasks / --split / --n go with --model; --from reads what an evaluation sampled")
        folder = Path(args.from_dir)
    report = pr.write(pr.rates(folder), output, args.name, args.low, args.high, provenance={"evaluation": str(folder)})
    _say(f"{report['questions']} questions: never {report['never']}, sometimes {report['sometimes']}, always {report['always']}; "
         f"kept {report['kept']} with {args.low:g} < pass rate < {args.high:g}")
    print(report["jsonl"])
    return 0
