"""Does training learn? The paper's RQ3 loop, miniature, on real data and 2 CPU cores.

Starting from the tiny offline Qwen2.5-VL (random weights, taught only the answer format), on the
real PneumoniaMNIST file (28 px; its train split; the paper's balanced test subset):

1. SFT (training/configs/tiny_sft.yaml) on a class-balanced draw of the train split;
2. GRPO-CARE (training/configs/tiny_grpo_care.yaml) from the SFT checkpoint;
3. ``medbridge eval`` of base, SFT and RL on ``medmnist_pneumonia`` (greedy Acc@1) and
   ``medmnist_pneumonia_passk`` (n = 16), records into a private leaderboard with the lineage
   from the run cards, and the paired child - parent tests the leaderboard pages compute.

Prints one table (Acc@1 with its Wilson 95 % interval, Pass@16, the support gap, paired deltas
with McNemar / bootstrap p) and the mean accuracy reward over the first and last tenth of RL.

    python benchmarks/tiny_rq3.py [--data /path/to/pneumoniamnist.npz] [--workdir DIR] [--threads 2] [--fresh]

A rerun reuses the stages its work folder already holds (and says so); --fresh starts over.

Tiny-model records go to the work folder's own leaderboard, never into leaderboards/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "medmnist" / "pneumoniamnist_partial.npz"


def _data_root(npz: Path, workdir: Path) -> Path:
    """A MedMNIST root holding the file under its official name (the shared copy is renamed)."""
    root = workdir / "medmnist"
    root.mkdir(parents=True, exist_ok=True)
    link = root / "pneumoniamnist.npz"
    if not link.exists():
        link.symlink_to(npz.resolve())
    return root


def _record(folder: Path, task: str) -> dict:
    return json.loads((folder / "records" / f"{task}.json").read_text())


def _rewards(run_dir: Path) -> list[float]:
    state = sorted((run_dir / "checkpoints").glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))[-1]
    return [e["rewards/accuracy/mean"] for e in json.loads(state.read_text())["log_history"] if "rewards/accuracy/mean" in e]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PneumoniaMNIST 28 px npz (official layout)")
    parser.add_argument("--workdir", type=Path, default=Path("runs/tiny_rq3"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sft-epochs", type=float, default=10)
    parser.add_argument("--rl-steps", type=int, default=None, help="GRPO-CARE steps (default: the tiny config's)")
    parser.add_argument("--samples", type=int, default=16, help="n for Pass@n")
    parser.add_argument("--fresh", action="store_true", help="delete the work folder first (its finished stages are reused otherwise)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"tiny_rq3: PneumoniaMNIST file not found: {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from medbridge.harness.leaderboard import add_output
    from medbridge.harness.leaderboard.cells import compare
    from medbridge.harness.leaderboard.stats import wilson_interval
    from medbridge.harness.lmms.evaluation import evaluate
    from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl
    from medbridge.training.train import run

    work = args.workdir.resolve()
    if args.fresh and work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    reused = []  # stages found finished in the work folder (a rerun resumes; it does not retrain)
    root = _data_root(args.data, work)
    base = work / "tiny-qwen2.5-vl"
    started = time.perf_counter()
    timings = {}
    if not (base / "config.json").is_file():
        build_tiny_qwen2_5_vl(base)
    common = [f"data.root={root}"]
    t = time.perf_counter()
    if (work / "tiny-sft" / "model").is_dir():
        reused.append("sft")
    else:
        run("sft", str(REPO / "training" / "configs" / "tiny_sft.yaml"),
            [*common, f"model={base}", f"output_dir={work / 'tiny-sft'}", f"num_train_epochs={args.sft_epochs}"])
    timings["sft"] = time.perf_counter() - t
    t = time.perf_counter()
    if (work / "tiny-care" / "model").is_dir():
        reused.append("grpo_care")
    else:
        extra = [f"max_steps={args.rl_steps}"] if args.rl_steps else []
        run("grpo", str(REPO / "training" / "configs" / "tiny_grpo_care.yaml"),
            [*common, f"model={work / 'tiny-sft' / 'model'}", f"output_dir={work / 'tiny-care'}", *extra])
    timings["grpo_care"] = time.perf_counter() - t

    t = time.perf_counter()
    board = work / "leaderboard"
    models = {"tiny-qwen2.5-vl": base, "tiny-sft": work / "tiny-sft" / "model", "tiny-care": work / "tiny-care" / "model"}
    records = {}
    for name, path in models.items():
        out = work / "eval" / name
        if (out / "records").is_dir():
            reused.append(f"eval of {name}")
        else:
            evaluate(str(path), ["medmnist_pneumonia", "medmnist_pneumonia_passk"], out, data_root=str(root), size=28, device="cpu",
                     gen_kwargs="max_new_tokens=32", batch_size=16)
            add_output(out, board, **({"name": name, "stage": "base"} if name == "tiny-qwen2.5-vl" else {}))
        records[name] = {task: _record(out, task) for task in ("medmnist_pneumonia", "medmnist_pneumonia_passk")}
    timings["eval"] = time.perf_counter() - t

    k = f"pass@{args.samples}"
    print(f"\nPneumoniaMNIST 28 px, balanced test subset, {time.strftime('%Y-%m-%d')}, {args.threads} CPU thread(s)\n")
    print("| model | stage | Acc@1 [Wilson 95 %] | Pass@16 | gap S-A | no-answer | Δ Acc@1 vs parent | Δ Pass@16 vs parent |")
    print("|---|---|---|---|---|---|---|---|")
    parents = {"tiny-sft": "tiny-qwen2.5-vl", "tiny-care": "tiny-sft"}
    for name in models:
        greedy, passk = records[name]["medmnist_pneumonia"], records[name]["medmnist_pneumonia_passk"]
        n = greedy["n_docs"]
        acc = greedy["metrics"]["acc@1"]["value"]
        ci = wilson_interval(round(acc * n), n)
        support = passk["metrics"][k]["value"]
        deltas = ["", ""]
        if name in parents:
            for i, (task, metric) in enumerate((("medmnist_pneumonia", "acc@1"), ("medmnist_pneumonia_passk", k))):
                child, parent = _with_per_doc(board, name, task), _with_per_doc(board, parents[name], task)
                diff = compare(child, parent, metric)
                deltas[i] = diff if isinstance(diff, str) else f"{diff.diff * 100:+.1f} [{diff.low * 100:+.1f}, {diff.high * 100:+.1f}] p={diff.p:.3g} ({diff.test})"
        stage = {"tiny-qwen2.5-vl": "base", "tiny-sft": "sft", "tiny-care": "rl"}[name]
        print(f"| {name} | {stage} | {acc * 100:.1f} [{ci.low * 100:.1f}, {ci.high * 100:.1f}] n={n} | {support * 100:.1f} | "
              f"{(support - acc) * 100:+.1f} | {greedy['metrics']['no_answer_rate']['value'] * 100:.1f} | {deltas[0]} | {deltas[1]} |")
    rewards = _rewards(work / "tiny-care")
    third = max(1, len(rewards) // 3)
    first, last = sum(rewards[:third]) / third, sum(rewards[-third:]) / third
    print(f"\nGRPO-CARE mean accuracy reward per logged step: {' '.join(f'{r:.3f}' for r in rewards)}")
    print(f"first third {first:.3f} -> last third {last:.3f} ({len(rewards)} logged steps)")
    print("wall seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) + f", total {time.perf_counter() - started:.0f}")
    if reused:
        print(f"REUSED from an earlier run in {work}: {', '.join(reused)} (their figures are that run's; --fresh reruns everything)")
    return 0


def _with_per_doc(board: Path, name: str, task: str) -> dict:
    from medbridge.harness.leaderboard import load_records

    return next(r for r in load_records(board) if r["model"]["display_name"] == name and r["task"]["name"] == task)


if __name__ == "__main__":
    sys.exit(main())
