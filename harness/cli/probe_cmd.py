"""``medbridge probe``: linear probes on a checkpoint's frozen vision tower (the paper's Table 1)."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("probe", help="linear-probe a VLM's frozen vision tower on MedMNIST (features cached on disk)")
    p.add_argument("--model", required=True, help="checkpoint folder or hub id (e.g. Qwen/Qwen2.5-VL-7B-Instruct)")
    p.add_argument("--tasks", default="medmnist", help="medmnist (all 12), a modality group (medmnist_radiology) or names: breast,pneumonia (default: medmnist)")
    p.add_argument("--output", required=True, help="output folder; records go to OUTPUT/records/probe_medmnist_<name>.<head>_<pooling>_<size>px.json "
                   "(OUTPUT/<head>/records/... with --head both)")
    p.add_argument("--head", default="paper", choices=["paper", "logreg", "both"],
                   help="paper: non-affine BatchNorm + linear, SGD 0.1/0.9, cosine, 20 epochs; logreg: scikit-learn logistic regression (fast path)")
    p.add_argument("--pooling", default="mean", choices=["mean", "max"], help="pooling of the tower's output tokens (default: mean, as the paper)")
    p.add_argument("--size", type=int, default=None, choices=[28, 64, 128, 224], help="MedMNIST image size (default: $MEDMNIST_SIZE, else 224)")
    p.add_argument("--data-root", default=None, help="MedMNIST npz folder (default: $MEDMNIST_ROOT, else ~/.medmnist)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"], help="tower dtype (auto: bfloat16 on GPU, float32 on CPU)")
    p.add_argument("--batch-size", type=int, default=64, help="images per tower call (default: 64)")
    p.add_argument("--epochs", type=int, default=None, help="paper head epochs (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the probe heads")
    p.add_argument("--cache-dir", default=None,
                   help="feature cache folder (default: $MEDBRIDGE_FEATURE_CACHE, else features/ under $MEDBRIDGE_CACHE or ~/.cache/medbridge)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write cached features")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--plain-forward", action="store_true",
                   help="run transformers' own Qwen tower forward instead of medbridge's packed one (same features, slower; to cross-check)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConfigError
    from ..outputs import check_writable_folder
    from ..probe.runner import probe

    if args.batch_size < 1 or (args.epochs is not None and args.epochs < 1):
        raise ConfigError("--batch-size and --epochs must be at least 1", fix="pass a positive number")
    check_writable_folder(args.output)
    heads = ("paper", "logreg") if args.head == "both" else (args.head,)
    records = probe(
        args.model, args.tasks, args.output, size=args.size, heads=heads, pooling=args.pooling, device=args.device, dtype=args.dtype,
        batch_size=args.batch_size, data_root=args.data_root, cache_dir=args.cache_dir, use_cache=not args.no_cache, seed=args.seed,
        epochs=args.epochs, progress=not args.no_progress, packed=not args.plain_forward,
    )
    if records:
        where = " and ".join(f"{args.output}/{h}/records" for h in heads) if len(heads) > 1 else f"{args.output}/records"
        print(f"medbridge: {len(records)} probe record(s) written to {where}", file=sys.stderr)
    return 0
