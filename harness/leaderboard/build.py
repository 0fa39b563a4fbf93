"""``medbridge leaderboard build [--check]``: records -> Markdown pages and PNG plots.

Everything is rendered in memory first, from the records alone (no dates, no machine paths,
sorted everywhere), so two builds are byte-identical and a bad record stops the build before a
file is touched. ``build`` then replaces changed files atomically and removes plots no record
produces any more; ``check`` writes nothing and returns a readable diff of what would change.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from ..atomic_write import write_bytes_atomic
from ..errors import RecordError
from ..records import model_key
from . import pages
from .paper import CITATION
from .rows import STAGE_LABELS, group_rows
from .store import RESULTS, check_unique, load_records, resolve_root

PAGES = (
    ("vision_probes.md", "Vision probes (Table 1)", "linear-probe accuracy of frozen vision towers and vision-only baselines", pages.vision_probes),
    ("medmnist_acc1.md", "MedMNIST Acc@1 (Table 2)", "greedy Accuracy@1 on the twelve MedMNIST multiple-choice tasks", pages.medmnist_acc1),
    ("passk.md", "Pass@K by task (Figure 1)", "pass@k for k = 1…16 beside Acc@1, the support gap and the recipe's advice", pages.passk),
    ("medvqa.md", "Medical VQA (Table 3)", "six medical VQA benchmarks and their average", pages.medvqa),
    ("rl_transfer.md", "RL transfer (Figure 2)", "Acc@1 and Pass@16 before and after training: in-domain, within- and cross-modality", pages.rl_transfer),
)
INDEX = "README.md"
PLOTS = "plots"
_DIFF_LINES = 60  # per file: enough to see what changed without flooding a CI log


def templates_dir(root: Path) -> Path:
    """The leaderboard folder's own templates when it has them, else the packaged ones."""
    own = Path(root) / "templates"
    if own.is_dir() and any(own.glob("*.jinja")):
        return own
    from .templates import TEMPLATES_DIR

    return TEMPLATES_DIR


def _environment(folder: Path):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(str(folder)), undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)


def _tidy(text: str) -> str:
    """Templates stay readable with macros on their own lines; pages get single blank lines."""
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def _models(records: list[dict]) -> list[dict]:
    out = []
    for row in group_rows(records):
        lineage = f"{STAGE_LABELS.get(row.stage or '', 'child')} of {row.parent}" if row.parent else (STAGE_LABELS.get(row.stage or "", "") or "–")
        out.append({"model": row.model, "kind": row.kind, "lineage": lineage, "trained_on": ", ".join(row.trained_on) or "–", "tasks": len(row.records)})
    return out


def render(root: str | Path) -> dict[str, bytes]:
    """Every generated file (path relative to ``root``) and its bytes."""
    root = Path(root)
    records = load_records(root / RESULTS, exact=True) if (root / RESULTS).is_dir() else []
    if not records:
        raise RecordError("no result records to build from", where=str(root / RESULTS), fix="add some with `medbridge leaderboard add OUTPUT_DIR` (or `medbridge leaderboard seed-paper`)")
    check_unique(records)
    env = _environment(templates_dir(root))
    common = {"citation": CITATION, "pages": [{"file": f, "title": t, "what": w} for f, t, w, _ in PAGES]}
    out: dict[str, bytes] = {}
    for filename, title, _, page in PAGES:
        context, plots = page(records)
        text = env.get_template(f"{filename}.jinja").render(title=title, **common, **context)
        out[filename] = _tidy(text).encode()
        out.update({f"{PLOTS}/{name}": data for name, data in plots.items()})
    kinds = [r["provenance"]["kind"] for r in records]
    index = env.get_template(f"{INDEX}.jinja").render(
        **common,
        n_measured=kinds.count("measured"),
        n_reported=kinds.count("reported"),
        n_models=len({model_key(r) for r in records}),
        models=_models(records),
    )
    out[INDEX] = _tidy(index).encode()
    return dict(sorted(out.items()))


def _on_disk(root: Path) -> dict[str, bytes]:
    """The generated files present now: the page files and everything under plots/."""
    names = [INDEX, *(p[0] for p in PAGES)]
    found = {n: (root / n).read_bytes() for n in names if (root / n).is_file()}
    if (root / PLOTS).is_dir():
        found.update({f"{PLOTS}/{p.name}": p.read_bytes() for p in sorted((root / PLOTS).iterdir()) if p.is_file() and not p.name.startswith(".")})
    return found


def differences(root: str | Path, rendered: dict[str, bytes] | None = None) -> list[str]:
    """What differs between the generated files on disk and what the records produce: one
    entry per file (a unified diff for pages, sizes for plots); empty when up to date."""
    root = Path(root)
    rendered = render(root) if rendered is None else rendered
    disk = _on_disk(root)
    out = []
    for name in sorted(set(rendered) | set(disk)):
        new, old = rendered.get(name), disk.get(name)
        if new == old:
            continue
        if old is None:
            out.append(f"missing: {name} (the records produce it)")
        elif new is None:
            out.append(f"stale: {name} (no record produces it any more)")
        elif name.endswith(".png"):
            out.append(f"differs: {name} ({len(old)} bytes on disk, {len(new)} bytes from the records)")
        else:
            diff = list(difflib.unified_diff(old.decode(errors="replace").splitlines(), new.decode().splitlines(), f"{name} (on disk)", f"{name} (from records)", lineterm="", n=1))
            more = len(diff) - _DIFF_LINES
            body = "\n".join(diff[:_DIFF_LINES]) + (f"\n… {more} more diff lines" if more > 0 else "")
            out.append(f"differs: {name}\n{body}")
    return out


def check(root: str | Path | None = None) -> list[str]:
    """``build --check``: the differences; writes nothing."""
    return differences(resolve_root(root))


def build(root: str | Path | None = None) -> list[str]:
    """Regenerate the pages and plots; return the files that changed (written or removed)."""
    root = resolve_root(root)
    rendered = render(root)
    disk = _on_disk(root)
    changed = []
    for name, data in rendered.items():
        if disk.get(name) != data:
            write_bytes_atomic(root / name, data)
            changed.append(name)
    for name in sorted(set(disk) - set(rendered)):
        (root / name).unlink()
        changed.append(name)
    return changed
