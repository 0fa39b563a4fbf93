"""MedMNIST v2 (2D) as multiple-choice questions, read from the official npz files.

Where the data comes from, in order: an explicit ``root`` argument (``--data-root``), the
``MEDMNIST_ROOT`` environment variable, then the ``medmnist`` package default (``~/.medmnist``).
Image size: ``size`` argument, ``MEDMNIST_SIZE``, else 224 as in the paper. Files follow the
official naming ``{flag}.npz`` (28 px) / ``{flag}_{size}.npz``; labels may be shaped (N, 1)
(official) or (N,) (common re-serialised copies). Nothing is downloaded unless
:func:`download` is called.

Test subsets follow the paper's "balanced subsets of the official test splits": every class
gets the same number of questions, ``min(per_class_cap, smallest class count)``, drawn with a
seeded generator, then shuffled together (so ``--limit`` sees mixed classes). The default cap
is None (no cap): the paper's Table 1 denominators fit exactly this rule (BreastMNIST 84 =
2 x 42 malignant, RetinaMNIST 100 = 5 x 20, DermaMNIST 161 = 7 x 23, BloodMNIST 1944 = 8 x 243).
Set ``MEDMNIST_PER_CLASS`` (or ``per_class``) to cap it for cheaper runs.

ChestMNIST is multi-label; as an MCQ it uses the images with exactly one positive finding,
the 14 findings as options and that finding as the answer (images with none or several are
left out: a single-answer question would be ill-posed for them). RetinaMNIST's ordinal
labels 0-4 become readable diabetic-retinopathy grades.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..answers import letter_of_index
from ..errors import ConfigError, CorruptDataError, DataNotFoundError
from .catalogue import MEDMNIST_BY_FLAG, lookup
from .mcq import MCQDoc

SIZES = (28, 64, 128, 224)
DEFAULT_SIZE = 224
SPLITS = ("train", "val", "test")
# Fixed so every model is scored on the same questions; change it only to study subset variance.
SUBSET_SEED = 0

RETINA_GRADES = [
    "grade 0: no diabetic retinopathy",
    "grade 1: mild non-proliferative diabetic retinopathy",
    "grade 2: moderate non-proliferative diabetic retinopathy",
    "grade 3: severe non-proliferative diabetic retinopathy",
    "grade 4: proliferative diabetic retinopathy",
]


def _medmnist_info():
    """The ``medmnist.info`` module (the INFO table, DEFAULT_ROOT) without running the
    package's ``__init__``, which also imports its dataset classes and evaluator and with
    them scikit-learn (~0.8 s of every eval's start-up for a table of names)."""
    import importlib.util
    import sys

    module = sys.modules.get("medmnist.info") or sys.modules.get("_medbridge_medmnist_info")
    if module is None:
        package = importlib.util.find_spec("medmnist")  # locates the package without importing it
        if package is None or not package.submodule_search_locations:
            raise ConfigError("the medmnist package is not installed", fix="pip install medmnist")
        path = Path(next(iter(package.submodule_search_locations))) / "info.py"
        spec = importlib.util.spec_from_file_location("_medbridge_medmnist_info", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # stdlib imports only; creates ~/.medmnist as the package does
        sys.modules["_medbridge_medmnist_info"] = module
    return module


def info(flag: str) -> dict:
    return _medmnist_info().INFO[flag]


def class_names(flag: str) -> list[str]:
    if flag == "retinamnist":
        return list(RETINA_GRADES)
    labels = info(flag)["label"]
    return [labels[str(i)] for i in range(len(labels))]


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    if root is None:
        root = os.environ.get("MEDMNIST_ROOT")
    if root is None:
        root = _medmnist_info().DEFAULT_ROOT
    return Path(root).expanduser()


def resolve_size(size: int | str | None = None) -> int:
    origin = "size"
    if size is None and os.environ.get("MEDMNIST_SIZE"):
        size, origin = os.environ["MEDMNIST_SIZE"], "MEDMNIST_SIZE"
    if size is None:
        return DEFAULT_SIZE
    try:
        value = int(size)
    except ValueError:
        value = -1
    if value not in SIZES:
        raise ConfigError(f"{origin}={size!r} is not a MedMNIST 2D size", fix=f"use one of {', '.join(map(str, SIZES))}")
    return value


def resolve_per_class(per_class: int | str | None = None) -> int | None:
    origin = "per-class cap"
    if per_class is None:
        per_class, origin = os.environ.get("MEDMNIST_PER_CLASS") or None, "MEDMNIST_PER_CLASS"
    if per_class is None:
        return None
    try:
        value = int(per_class)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}={per_class!r} is not a whole number", fix="set it to the number of questions per class (e.g. 50), or unset it for the paper's uncapped balance") from None
    if value < 1:
        raise ConfigError(f"{origin} must be >= 1, got {per_class!r}", fix="unset MEDMNIST_PER_CLASS to use the paper's uncapped balance")
    return value


def file_name(flag: str, size: int) -> str:
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def data_var(flag: str) -> str:
    """The variable naming one dataset's npz file explicitly (any name, e.g. a partial copy)."""
    return "MEDBRIDGE_DATA_" + flag.upper()


def _missing_file_error(root: Path, flag: str, size: int) -> DataNotFoundError:
    wanted = file_name(flag, size)
    present = [s for s in SIZES if s != size and (root / file_name(flag, s)).is_file()]
    official = {file_name(flag, s) for s in SIZES}
    lookalikes = sorted(p.name for p in root.glob("*.npz") if flag in p.name.lower() and p.name not in official)
    short = MEDMNIST_BY_FLAG[flag].name
    if present:
        sizes = ", ".join(f"{file_name(flag, s)} ({s} px)" for s in present)
        fix = f"found {sizes} instead: set MEDMNIST_SIZE={present[0]} (or --size {present[0]}), or download the {size} px file with `medbridge data download {flag} --size {size}`"
    elif lookalikes:
        fix = (f"found {', '.join(lookalikes)}, not an official name: to use it, pass it explicitly with --data {short}={root / lookalikes[0]} "
               f"(or {data_var(flag)}=PATH), or download the official file with `medbridge data download {flag} --size {size}`")
    else:
        fix = f"download it with `medbridge data download {flag} --size {size}` (needs network), point MEDMNIST_ROOT / --data-root at a folder holding it, or name a file of any name with {data_var(flag)}=PATH"
    return DataNotFoundError(f"MedMNIST file {wanted} not found (the official name at {size} px)", where=str(root), fix=fix)


def explicit_file(flag: str, path: str | os.PathLike | None = None) -> Path | None:
    """The npz named for ``flag`` by ``path`` or ``MEDBRIDGE_DATA_<FLAG>``, if any (it wins over the root)."""
    origin = "the given path" if path is not None else data_var(flag)
    value = path if path is not None else os.environ.get(data_var(flag))
    if not value:
        return None
    file = Path(value).expanduser()
    if not file.is_file():
        raise DataNotFoundError(f"{origin} names no file", where=str(file), fix=f"point it at the {flag} .npz file")
    return file


def npz_image_size(path: Path) -> int:
    """Image side of an npz's test images, read from the .npy header only (no decompression of the data)."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open("test_images.npy") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, _ = read_header(f)
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, zlib.error) as exc:
        raise CorruptDataError(f"cannot read the test images header of {path.name} ({exc})", where=str(path), fix="re-download the file") from exc
    return int(shape[1])


def _size_was_asked(size) -> bool:
    return size is not None or bool(os.environ.get("MEDMNIST_SIZE"))


def _locate(flag: str, root=None, size=None, path=None) -> Path:
    explicit = explicit_file(flag, path)
    if explicit is not None:
        held = npz_image_size(explicit)
        if _size_was_asked(size) and held != resolve_size(size):
            raise ConfigError(f"{explicit.name} holds {held} px images, but {resolve_size(size)} px were asked for", where=str(explicit),
                              fix=f"drop --size / MEDMNIST_SIZE (an explicit file's size is its own) or pass --size {held}")
        return explicit
    root, size = resolve_root(root), resolve_size(size)
    if not root.is_dir():
        raise DataNotFoundError(
            "MedMNIST data root does not exist",
            where=str(root),
            fix="set --data-root or MEDMNIST_ROOT to the folder holding the .npz files, or download with `medbridge data download`",
        )
    file = root / file_name(flag, size)
    if not file.is_file():
        raise _missing_file_error(root, flag, size)
    return file


def image_size(name: str, root=None, size=None, path=None) -> int:
    """The image size a dataset is read at: an explicit file's own, else the resolved setting."""
    flag = lookup(name).flag
    explicit = explicit_file(flag, path)
    return npz_image_size(explicit) if explicit is not None else resolve_size(size)


def _read_arrays(path: Path, keys: list[str] | None):
    """The named arrays of an npz (None: just check it opens and has the official keys)."""
    official = {f"{s}_{k}" for s in SPLITS for k in ("images", "labels")}
    try:
        npz = np.load(path)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a plain .npy array, not an npz archive")
        with npz:
            missing = sorted((set(keys) if keys else official) - set(npz.files))
            if missing:
                raise CorruptDataError(
                    f"{path.name} lacks {', '.join(missing)}",
                    where=str(path),
                    fix="the official layout has train/val/test _images and _labels; re-download the file",
                )
            return [_member(npz, k, path) for k in keys] if keys else None
    except CorruptDataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptDataError(f"cannot read {path.name} as an npz archive ({exc})", where=str(path), fix="delete it and download it again") from exc


def _member(npz, key: str, path: Path) -> np.ndarray:
    """One array of an npz; a damaged compressed member (zlib error, bad CRC) names the file and member."""
    try:
        return npz[key]
    except (zlib.error, zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise CorruptDataError(f"{path.name} is corrupt: its {key} member cannot be read ({exc})", where=str(path),
                               fix="delete it and download it again (`medbridge data download`)") from exc


def check_available(name: str, split: str = "test", root=None, size=None, path=None) -> Path:
    """Cheap pre-flight: the file exists, opens, and holds the split (no image is read)."""
    ds = lookup(name)
    if split not in SPLITS:
        raise DataNotFoundError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    path = _locate(ds.flag, root, size, path)
    _read_arrays(path, None)
    return path


def load_split(flag: str, split: str, root=None, size=None, path=None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W[, 3]) uint8 and labels (N, L) int of one split of an official npz."""
    if split not in SPLITS:
        raise DataNotFoundError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    path = _locate(flag, root, size, path)
    images, labels = _read_arrays(path, [f"{split}_images", f"{split}_labels"])
    labels = np.asarray(labels)
    if labels.ndim == 1:  # re-serialised copies drop the trailing axis
        labels = labels[:, None]
    if labels.ndim != 2 or len(labels) != len(images):
        raise CorruptDataError(
            f"{split} labels have shape {labels.shape} for {len(images)} images",
            where=str(path),
            fix="expected (N,), (N, 1) or (N, L); re-download the file",
        )
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise CorruptDataError(f"{split} images have shape {images.shape} and dtype {images.dtype}", where=str(path), fix="expected uint8 (N, H, W) or (N, H, W, 3)")
    return images, labels.astype(np.int64)


def class_of_each_row(flag: str, labels: np.ndarray) -> np.ndarray:
    """The class index of each row, or -1 where the row cannot be one single-answer question."""
    if flag == "chestmnist":
        single = labels.sum(axis=1) == 1
        return np.where(single, labels.argmax(axis=1), -1)
    return labels[:, 0]


def balanced_indices(classes: np.ndarray, n_classes: int, per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Seeded class-balanced subset: k = min(per_class, smallest non-empty class) rows per class,
    shuffled together. Classes with no rows are left out of the minimum (and of the subset)."""
    rng = np.random.default_rng(seed)
    pools = [np.flatnonzero(classes == c) for c in range(n_classes)]
    sizes = [len(p) for p in pools if len(p)]
    if not sizes:
        return np.array([], dtype=np.int64)
    k = min(sizes) if per_class is None else min(per_class, min(sizes))
    chosen = [rng.choice(p, size=k, replace=False) for p in pools if len(p)]
    picked = np.concatenate(chosen)
    rng.shuffle(picked)
    return picked


def _to_pil(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(image)  # uint8 (H, W) -> "L", (H, W, 3) -> "RGB"


def load_docs(name: str, split: str = "test", root=None, size=None, per_class=None, seed: int = SUBSET_SEED, balanced: bool = True, path=None) -> list[MCQDoc]:
    """MCQ docs for one MedMNIST dataset (``name`` is ``breast`` or ``breastmnist``); ``path``
    names its npz explicitly (any file name; else ``MEDBRIDGE_DATA_<FLAG>``, else the root)."""
    ds = lookup(name)
    per_class = resolve_per_class(per_class)
    images, labels = load_split(ds.flag, split, root=root, size=size, path=path)
    size = int(images.shape[1])
    names = class_names(ds.flag)
    classes = class_of_each_row(ds.flag, labels)
    if balanced:
        rows = balanced_indices(classes, len(names), per_class=per_class, seed=seed)
    else:
        rows = np.flatnonzero(classes >= 0)
    docs = []
    for i in rows:
        label = int(classes[i])
        docs.append(
            MCQDoc(
                id=f"{ds.flag}/{split}/{int(i):05d}",
                images=[_to_pil(images[i])],
                question=ds.question,
                options=names,
                answer=letter_of_index(label),
                modality=ds.modality,
                source="medmnist",
                meta={"dataset": ds.flag, "split": split, "index": int(i), "label": label, "size": size, "question_type": "classification"},
            )
        )
    return docs


def download(name: str, size: int = DEFAULT_SIZE, root=None) -> Path:
    """Fetch the official npz through the ``medmnist`` package (network needed; MD5-checked)."""
    import medmnist

    ds, root = lookup(name), resolve_root(root)
    root.mkdir(parents=True, exist_ok=True)
    cls = getattr(medmnist, info(ds.flag)["python_class"])
    try:
        cls(split="test", root=str(root), size=size, download=True)
    except Exception as exc:  # medmnist raises bare RuntimeError / URLError on network trouble
        raise DataNotFoundError(
            f"download of {file_name(ds.flag, size)} failed ({exc})",
            where=info(ds.flag)[f"url_{size}" if size != 28 else "url"],
            fix="check the network, or fetch the file by hand into the data root",
        ) from exc
    return root / file_name(ds.flag, size)
