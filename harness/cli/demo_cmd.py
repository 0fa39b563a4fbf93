"""``medbridge demo``: the embedded default run, end to end on CPU in a few minutes.

tiny offline Qwen2.5-VL + MedMNIST-format sample -> lmms-eval (medmnist + medmnist_passk)
-> records -> results table -> a leaderboard of the demo's own (``<workdir>/leaderboard``; the
repository's leaderboards/ never receive tiny-model rows). ``--real`` uses the real MedMNIST files instead (downloaded
through the ``medmnist`` package when missing; needs network).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the demo: tiny model + sample MedMNIST -> Acc@1 / Pass@K table")
    p.add_argument("--workdir", default="medbridge-demo", help="where the model, data and results go (default: ./medbridge-demo)")
    p.add_argument("--real", action="store_true", help="use real MedMNIST (downloaded via the medmnist package if missing)")
    p.add_argument("--size", type=int, default=28, choices=[28, 64, 128, 224], help="image size (default 28 for speed)")
    p.add_argument("--tasks", default="medmnist,medmnist_passk", help="tasks or groups to run")
    p.add_argument("--limit", type=int, default=None, help="docs per task (default: all of the sample; 8 with --real)")
    p.add_argument("--max-new-tokens", type=int, default=24, help="generation budget per sample (tiny model: 24)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..atomic_write import write_text_atomic
    from ..lmms.evaluation import evaluate
    from ..report import results_table
    from ..sources import catalogue, medmnist
    from ..sources.medmnist_sample import write_sample
    from ..tiny_model import build_tiny_qwen2_5_vl

    start = time.perf_counter()
    work = Path(args.workdir)
    model = work / "tiny-qwen2.5-vl"
    if not (model / "config.json").is_file():
        print(f"[demo] building the tiny offline checkpoint in {model}", file=sys.stderr)
        build_tiny_qwen2_5_vl(model)
    limit = args.limit
    if args.real:
        data_root = work / "medmnist"
        for name in sorted(catalogue.MEDMNIST):
            if not (data_root / medmnist.file_name(catalogue.MEDMNIST[name].flag, args.size)).is_file():
                print(f"[demo] downloading {name} ({args.size} px)", file=sys.stderr)
                medmnist.download(name, size=args.size, root=data_root)
        limit = limit or 8
    else:
        data_root = work / "medmnist-sample"
        print(f"[demo] writing the generated MedMNIST-format sample to {data_root}", file=sys.stderr)
        write_sample(data_root, size=args.size, counts={"train": 4, "val": 1, "test": 1})
    tasks = [t for t in args.tasks.split(",") if t]
    records = evaluate(
        str(model),
        tasks,
        work / "results",
        gen_kwargs=f"max_new_tokens={args.max_new_tokens}",
        limit=limit,
        device="cpu",
        batch_size=16,
        data_root=str(data_root),
        size=args.size,
    )
    table = results_table(records)
    write_text_atomic(work / "results" / "table.md", table + "\n")
    print(table)
    from ..leaderboard import add_output, build

    board = work / "leaderboard"
    add_output(work / "results", root=board, name="tiny-qwen2.5-vl (demo)")
    build(board)
    note = "real MedMNIST" if args.real else "generated sample (synthetic images: numbers show plumbing, not skill)"
    print(f"\n[demo] {len(records)} task records in {work / 'results' / 'records'}; leaderboard pages in {board}; data: {note}; {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0
