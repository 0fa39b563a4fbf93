"""Where each VQA benchmark's data lives: a local copy named by an environment variable, the
unified MedVLThinker-Eval copy, or the Hugging Face hub.

One documented way to point at local data: ``MEDBRIDGE_DATA_<BENCHMARK>`` (e.g.
``MEDBRIDGE_DATA_VQA_RAD=/data/vqa_rad``) names a file or folder in any layout that
benchmark's source reads; ``MEDBRIDGE_DATA_MEDVLTHINKER_EVAL`` names one copy of the unified
set that serves every benchmark without its own variable. Unset: the hub id (online only).
``medbridge eval --data vqa_rad=/data/vqa_rad`` sets the same variables for one run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ...atomic_write import write_text_atomic
from ...errors import ConfigError, DataNotFoundError
from ..catalogue import VQA_BENCHMARKS

BENCHMARKS = VQA_BENCHMARKS
UNIFIED = "medvlthinker_eval"


def env_var(benchmark: str) -> str:
    return "MEDBRIDGE_DATA_" + benchmark.upper()


@dataclass(frozen=True)
class Location:
    benchmark: str
    kind: str  # "local" | "unified" | "hub"
    path: Path | None
    origin: str  # the variable that set it, or "hub"

    def describe(self) -> str:
        return f"{self.path} (from {self.origin})" if self.path else f"hub ({self.origin})"


def check_name(benchmark: str) -> str:
    if benchmark not in BENCHMARKS and benchmark != UNIFIED:
        import difflib

        close = difflib.get_close_matches(benchmark, [*BENCHMARKS, UNIFIED], n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"unknown benchmark {benchmark!r}", fix=f"{hint}known: {', '.join([*BENCHMARKS, UNIFIED])}")
    return benchmark


def locate(benchmark: str, path: str | os.PathLike | None = None) -> Location:
    """Where to read ``benchmark``: ``path`` when given (a caller's explicit copy, e.g. a
    training config's), else its variable, else the unified copy's, else the hub."""
    check_name(benchmark)
    if path is not None:
        return Location(benchmark, "local", _existing(Path(path).expanduser(), "the given path"), "path argument")
    own = os.environ.get(env_var(benchmark))
    if own:
        return Location(benchmark, "local", _existing(Path(own).expanduser(), env_var(benchmark)), env_var(benchmark))
    unified = os.environ.get(env_var(UNIFIED))
    if unified and benchmark != UNIFIED:
        return Location(benchmark, "unified", _existing(Path(unified).expanduser(), env_var(UNIFIED)), env_var(UNIFIED))
    return Location(benchmark, "hub", None, "hub")


def _existing(path: Path, var: str) -> Path:
    if not path.exists():
        raise DataNotFoundError(f"{var} points to a path that does not exist", where=str(path), fix=f"fix or unset {var}")
    if path.is_dir() and not any(path.iterdir()):
        raise DataNotFoundError(f"{var} points to an empty folder", where=str(path), fix="download the benchmark into it, or point the variable at the folder that holds it")
    return path


# Split names as releases spell them -> the canonical names medbridge uses (``validation``).
SPLIT_ALIASES = {"val": "validation", "validate": "validation", "validation": "validation",
                 "train": "train", "test": "test", "dev": "dev"}
_SPLIT_WORD = re.compile(r"(?<![a-z])(train|test|validation|validate|val|dev)", re.IGNORECASE)


def canonical_split(split: str) -> str:
    return SPLIT_ALIASES.get(str(split).lower(), str(split).lower())


def file_split(name: str) -> str | None:
    """The split a file's name says it holds (``validate.json`` -> validation, ``trainset.json``
    -> train, ``test-00000-of-00001.parquet`` -> test), or None when it names none or several."""
    found = {canonical_split(m) for m in _SPLIT_WORD.findall(Path(name).stem)}
    return found.pop() if len(found) == 1 else None


def check_file_split(path: Path, split: str, benchmark: str, default: str | None = None) -> None:
    """A local copy given as one file holds one split: refuse it for another split (SLAKE's
    validate.json is not its test set). ``default``: the split a file with no split in its name
    holds (for sources that have only one)."""
    held = file_split(path.name) or default
    if held is None:
        raise DataNotFoundError(f"cannot tell which {benchmark} split {path.name} holds", where=str(path),
                                fix=f"point {env_var(benchmark)} at the benchmark's folder, or name the file after its split (e.g. {split}.json)")
    if held != canonical_split(split):
        raise DataNotFoundError(f"{path.name} holds the {held} split of {benchmark}, but the {canonical_split(split)} split was asked for", where=str(path),
                                fix=f"point {env_var(benchmark)} at the folder holding every split, or at the {canonical_split(split)} file")


def hf_table(path: Path | None, split_names: tuple[str, ...], config: str | None = None, strict: bool = False, benchmark: str = "", default_split: str | None = None):
    """Read a Hugging Face layout from disk: a ``save_to_disk`` folder, or parquet files (one
    file, or a folder searched recursively; a file belongs to the split its name or folder
    names). ``config`` keeps only files whose path names it (all files if none does, unless
    ``strict``). A single file or a single saved Dataset must hold the asked split (its name
    or its own split info says which; ``default_split`` for sources with one split).
    Returns ``[(split, datasets.Dataset), ...]``, or None if it is no such layout."""
    import datasets

    if path is None or not path.exists():
        return None
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            found = [(s, loaded[s]) for s in split_names if s in loaded]
            if not found:
                raise DataNotFoundError(f"save_to_disk copy has splits {list(loaded)}, none of {list(split_names)}", where=str(path))
            return found
        held = canonical_split(str(loaded.split)) if loaded.split is not None else default_split
        if held is None or held not in {canonical_split(s) for s in split_names}:
            raise DataNotFoundError(f"save_to_disk copy holds the {held or 'unnamed'} split, not {'/'.join(split_names)}", where=str(path),
                                    fix="save a DatasetDict with named splits, or point at the copy of the split you mean")
        return [(split_names[0], loaded)]
    files = [path] if path.suffix == ".parquet" else sorted(path.rglob("*.parquet")) if path.is_dir() else []
    if config:
        scoped = [f for f in files if config.lower() in str(f).lower()]
        files = scoped if (scoped or strict) else files
    if not files:
        return None
    if path.is_file():
        check_file_split(path, split_names[0], benchmark or "this benchmark", default=default_split)
        return [(split_names[0], datasets.load_dataset("parquet", data_files=[str(path)], split="train"))]
    out = []
    for split in split_names:
        chosen = [str(f) for f in files if f.name.startswith(split) or f.parent.name == split]
        if chosen:
            out.append((split, datasets.load_dataset("parquet", data_files=chosen, split="train")))
    if not out:
        raise DataNotFoundError(f"no parquet file for split {'/'.join(split_names)}", where=str(path), fix="parquet file names should start with the split name, e.g. test-00000-of-00001.parquet")
    return out


def hub_dataset(repo: str, split: str, config: str | None = None):
    """The hub path (users online). Kept in one place so a test can check the arguments."""
    import datasets

    try:
        return datasets.load_dataset(repo, config, split=split)
    except Exception as exc:
        raise DataNotFoundError(
            f"could not load {repo}{'/' + config if config else ''} ({split}) from the Hugging Face hub ({type(exc).__name__})",
            fix="go online (and accept the dataset's terms on the hub if it asks), or point the benchmark's MEDBRIDGE_DATA_* variable at a local copy",
        ) from exc


def hub_snapshot(repo: str, allow_patterns: list[str] | None = None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, repo_type="dataset", allow_patterns=allow_patterns))
    except Exception as exc:
        raise DataNotFoundError(
            f"could not download {repo} from the Hugging Face hub ({type(exc).__name__})",
            fix="go online, or point the benchmark's MEDBRIDGE_DATA_* variable at a local copy",
        ) from exc


def unpacked(zip_path: Path) -> Path:
    """Extract an images zip once into medbridge's cache (the copy may be read-only) and return
    that folder; the cache key is the zip's path and size. ``MEDBRIDGE_CACHE`` moves the cache."""
    import hashlib
    import zipfile

    key = hashlib.sha256(f"{zip_path.resolve()}:{zip_path.stat().st_size}".encode()).hexdigest()[:16]
    from ...host import cache_root

    target = cache_root() / "unzipped" / f"{zip_path.stem}-{key}"
    target.mkdir(parents=True, exist_ok=True)
    marker = target / ".medbridge-extracted"
    if not marker.exists():
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(target)
        except zipfile.BadZipFile as exc:
            raise DataNotFoundError(f"{zip_path.name} is not a readable zip", where=str(zip_path), fix="re-download it") from exc
        write_text_atomic(marker, "ok\n")
    return target


def undecoded(table, *columns: str):
    """Image columns as {"bytes", "path"} so rows can be counted without decoding every image."""
    import datasets

    for col in columns:
        if col in table.column_names:
            feature = table.features[col]
            if isinstance(feature, datasets.Image):
                table = table.cast_column(col, datasets.Image(decode=False))
            elif isinstance(feature, datasets.Sequence) and isinstance(feature.feature, datasets.Image):
                table = table.cast_column(col, datasets.Sequence(datasets.Image(decode=False)))
    return table
