"""``medbridge baseline``: a vision-only ResNet trained from scratch with the MedMNIST v2 recipe."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("baseline", help="train a MedMNIST v2 ResNet baseline from scratch and write its record")
    p.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet50"])
    p.add_argument("--dataset", required=True, help="one or more MedMNIST names, comma-separated (breast, pneumonia, ... or breastmnist)")
    p.add_argument("--size", type=int, default=28, choices=[28, 64, 128, 224], help="image size (default: 28; 28 px uses the 3x3 stride-1 stem without max-pool)")
    p.add_argument("--output", default="out", help="output folder; records go to OUTPUT/records/baseline_medmnist_<name>.<arch>_<size>px_seed<seed>.json "
                   "(OUTPUT/seed<seed>/records/... with several seeds)")
    p.add_argument("--epochs", type=int, default=100, help="default 100; the lr drops x0.1 at 50%% and 75%% (whole epochs)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=str, default="0", help="seed, or comma-separated seeds for several runs (e.g. 0,1,2)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--data-root", default=None, help="MedMNIST npz folder (default: $MEDMNIST_ROOT, else ~/.medmnist)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConfigError
    from ..host import default_device
    from ..outputs import check_writable_folder
    from ..probe.baseline import baseline_record, train_baseline
    from ..probe.records import probe_summary_line, write_probe_record
    from ..sources import medmnist

    try:
        seeds = [int(s) for s in args.seed.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seed {args.seed!r} is not a number or a comma-separated list of numbers", fix="e.g. --seed 0 or --seed 0,1,2") from None
    check_writable_folder(args.output)
    names = [n.strip() for n in args.dataset.split(",") if n.strip()]
    for name in names:  # every file is checked before the first epoch
        medmnist.check_available(name, "train", root=args.data_root, size=args.size)
    device = args.device or default_device()
    for name in names:
        for seed in seeds:
            result = train_baseline(name, arch=args.arch, size=args.size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
                                    device=device, data_root=args.data_root, progress=not args.no_progress)
            record = baseline_record(result, args.data_root)
            # One folder per seed when there are several: a leaderboard row holds one record per task.
            folder = Path(args.output) / f"seed{seed}" if len(seeds) > 1 else args.output
            path = write_probe_record(record, folder, f"{args.arch}_{args.size}px_seed{seed}")
            print(probe_summary_line(record))
            published = record["baseline"]["published"]
            if published:
                verdict = "within" if published["acc_within_tolerance"] else "OUTSIDE"
                print(f"  published {published['source'].split(',')[0]}: acc={published['acc']:.3f} auc={published['auc']:.3f}; "
                      f"delta acc={published['acc_delta']:+.3f} ({verdict} ±{published['acc_tolerance']:.3f}), auc={published['auc_delta']:+.3f}")
            print(f"medbridge: wrote {path}", file=sys.stderr)
    return 0
