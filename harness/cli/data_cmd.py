"""``medbridge data``: fetch and inspect local benchmark data."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="download or check local data")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    d = dsub.add_parser("download", help="download official MedMNIST npz files through the medmnist package (network)")
    d.add_argument("names", nargs="+", help="datasets (breast, chest, ... or breastmnist), or 'all'")
    d.add_argument("--size", type=int, default=224, choices=[28, 64, 128, 224])
    d.add_argument("--data-root", default=None, help="target folder (default: $MEDMNIST_ROOT, else ~/.medmnist)")
    d.set_defaults(func=download)

    s = dsub.add_parser("sample", help="write the small generated MedMNIST-format sample (demo and tests)")
    s.add_argument("root", help="folder to write the npz files to")
    s.add_argument("--size", type=int, default=28, choices=[28, 64, 128, 224])
    s.set_defaults(func=sample)

    c = dsub.add_parser("check", help="check local MedMNIST files and print their test-subset sizes")
    c.add_argument("names", nargs="*", default=["all"])
    c.add_argument("--size", type=int, default=None, choices=[28, 64, 128, 224])
    c.add_argument("--data-root", default=None)
    c.set_defaults(func=check)


def _names(names):
    from ..sources.medmnist import DATASETS

    return sorted(DATASETS) if names == ["all"] else names


def download(args) -> int:
    from ..sources import medmnist

    for name in _names(args.names):
        print(medmnist.download(name, size=args.size, root=args.data_root))
    return 0


def sample(args) -> int:
    from ..sources.medmnist_sample import write_sample

    for path in write_sample(args.root, size=args.size):
        print(path)
    return 0


def check(args) -> int:
    from ..sources import medmnist

    for name in _names(args.names):
        ds = medmnist.lookup(name)
        path = medmnist.check_available(name, root=args.data_root, size=args.size)
        _, labels = medmnist.load_split(ds.flag, "test", root=args.data_root, size=args.size)
        classes = medmnist.class_of_each_row(ds.flag, labels)
        subset = medmnist.balanced_indices(classes, len(medmnist.class_names(ds.flag)), medmnist.resolve_per_class())
        print(f"{ds.name:<10} {path}  test={len(labels)}  balanced subset={len(subset)}")
    return 0
