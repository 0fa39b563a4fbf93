"""``medbridge data``: list, check, download and generate local benchmark data; make RL training subsets (balance, passrate)."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="list, check, download or generate local data")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    ls = dsub.add_parser("list", help="which benchmarks are found, where, and with how many items")
    ls.add_argument("--size", type=int, default=None, choices=[28, 64, 128, 224], help="MedMNIST size (default: $MEDMNIST_SIZE, else 224)")
    ls.add_argument("--data-root", default=None, help="MedMNIST folder (default: $MEDMNIST_ROOT, else ~/.medmnist)")
    ls.set_defaults(func=list_data)

    c = dsub.add_parser("check", help="validate a local copy and say exactly what is missing")
    c.add_argument("names", nargs="+", help="VQA benchmarks (vqa_rad, slake, …) or MedMNIST datasets (breast, …)")
    c.add_argument("--size", type=int, default=None, choices=[28, 64, 128, 224])
    c.add_argument("--data-root", default=None)
    c.set_defaults(func=check)

    d = dsub.add_parser("download", help="download official MedMNIST npz files through the medmnist package (network)")
    d.add_argument("names", nargs="+", help="datasets (breast, chest, ... or breastmnist), or 'all'")
    d.add_argument("--size", type=int, default=224, choices=[28, 64, 128, 224])
    d.add_argument("--data-root", default=None, help="target folder (default: $MEDMNIST_ROOT, else ~/.medmnist)")
    d.set_defaults(func=download)

    s = dsub.add_parser("sample", help="write the small generated MedMNIST-format sample (demo and tests)")
    s.add_argument("root", help="folder to write the npz files to")
    s.add_argument("--size", type=int, default=28, choices=[28, 64, 128, 224])
    s.set_defaults(func=sample)

    from . import curate_cmd  # balance, passrate

    curate_cmd.add_subparsers(dsub)


def _medmnist_row(name: str, root, size) -> str:
    from ..errors import MedbridgeError
    from ..sources import medmnist
    from ..sources.catalogue import lookup

    ds = lookup(name)
    try:
        path = medmnist.check_available(name, root=root, size=size)
        _, labels = medmnist.load_split(ds.flag, "test", root=root, size=size)
    except MedbridgeError as exc:
        return f"{'medmnist_' + ds.name:<24} missing   {exc}"
    classes = medmnist.class_of_each_row(ds.flag, labels)
    subset = medmnist.balanced_indices(classes, len(medmnist.class_names(ds.flag)), medmnist.resolve_per_class())
    return f"{'medmnist_' + ds.name:<24} found     {path}  test={len(labels)}  balanced subset={len(subset)}"


def _vqa_row(row: dict) -> str:
    if row["kind"] == "hub":
        return f"{row['benchmark']:<24} hub       {row['status']}"
    left = ", ".join(f"{v} {k}" for k, v in row["left_out"].items()) or "none"
    return f"{row['benchmark']:<24} found     {row['where']}  rows={row['rows']}  mcq={row['mcq']}  paper={row['paper']}  left out: {left}"


def list_data(args) -> int:
    from ..errors import MedbridgeError
    from ..sources import vqa
    from ..sources.catalogue import MEDMNIST

    for name in sorted(MEDMNIST):
        print(_medmnist_row(name, args.data_root, args.size))
    for bench in vqa.BENCHMARKS:
        try:
            print(_vqa_row(vqa.survey(bench)))
        except MedbridgeError as exc:
            print(f"{bench:<24} problem   {exc}")
    return 0


def check(args) -> int:
    from ..sources import catalogue, medmnist, vqa

    problems_total = 0
    for name in args.names:
        if name in vqa.BENCHMARKS:
            row, problems = vqa.check(name)
            print(_vqa_row(row))
            for problem in problems[:20]:
                print(f"  - {problem}")
            if len(problems) > 20:
                print(f"  … and {len(problems) - 20} more")
            problems_total += len(problems)
        else:
            short = name.removeprefix("medmnist_")
            if short not in catalogue.MEDMNIST and short not in catalogue.MEDMNIST_BY_FLAG:
                from ..errors import ConfigError

                raise ConfigError(f"unknown benchmark {name!r}", fix=f"VQA: {', '.join(vqa.BENCHMARKS)}; MedMNIST: {', '.join(sorted(catalogue.MEDMNIST))}")
            ds = catalogue.lookup(short)
            medmnist.check_available(short, root=args.data_root, size=args.size)
            for split in medmnist.SPLITS:  # every member decompressed once: a damaged one is named
                medmnist.load_split(ds.flag, split, root=args.data_root, size=args.size)
            print(_medmnist_row(short, args.data_root, args.size))
    if problems_total:
        print(f"medbridge: error: {problems_total} problem(s) in the local copies above", file=sys.stderr)
        return 2
    return 0


def download(args) -> int:
    from ..sources import medmnist
    from ..sources.catalogue import MEDMNIST

    for name in sorted(MEDMNIST) if args.names == ["all"] else args.names:
        print(medmnist.download(name, size=args.size, root=args.data_root))
    return 0


def sample(args) -> int:
    from ..sources.medmnist_sample import write_sample

    for path in write_sample(args.root, size=args.size):
        print(path)
    return 0
