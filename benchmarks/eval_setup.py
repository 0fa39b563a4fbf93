"""Where a ``medbridge eval`` run spends its time outside the model, in one run.

Measures, each ``--repeats`` times (interleaved), as separate processes like a user's:

1. ``medbridge tasks list``: wall time and the lmms-eval DEBUG lines it prints;
2. ``medbridge eval`` with a checkpoint path that does not exist: time to the error;
3. ``medbridge eval`` of a Pass@K task of ``--questions`` questions (K = 16) on an empty sample
   cache: wall time, model load (the backend's constructor and its ``load``), engine time (inside its
   sampling / greedy calls), medbridge's own set-up = wall - load - engine, and
   wall / (load + engine) (targets: set-up <= 5 s, ratio <= 1.10);
4. the same command again on the now full cache: wall time, time inside the backend's
   ``generate_until`` (no engine call should happen), and how many questions came from the
   cache (the line the CLI prints);
5. the bare program (``_bare_engine.py``): the same samples, from the same engine on the same
   inputs, with nothing but torch and transformers around it (captured once from an untimed run
   of 3; it checks every sample). Its load is a cold one, imports included: in a ``medbridge
   eval`` process lmms-eval imports torch, transformers and torchvision before the backend
   loads, so item 3's "model load" misses them (~1.4 s of the tiny model's 3.3 s cold load on
   2 cores) and its set-up holds them. Printed: the bare wall time, medbridge's wall / bare
   wall and wall - bare wall (what medbridge adds to the least program that does the work),
   and wall / (cold load + engine).

Wall times are the whole process as the user waits for it, interpreter exit included ("exit s"
is that exit: process end minus the end of the command).

Data: a generated MedMNIST-format PneumoniaMNIST with ``--questions / 2`` test images per class
(28 px), the tiny offline checkpoint, CPU; the thread count is fixed (``--threads``) and printed.

``--baseline REV`` adds an arm for another commit of this repository (``git archive`` into the
work folder, imported first through ``PYTHONPATH``): both arms run in one process of this script,
interleaved (current, baseline, current, ...), same data, model, settings and threads, so a
before/after claim does not rest on two runs on a machine whose speed drifts.

    python benchmarks/eval_setup.py                       # 200 questions, 3 repeats
    python benchmarks/eval_setup.py --baseline 35f69c6    # the same, against that commit
    python benchmarks/eval_setup.py --questions 40 --repeats 1 --max-new-tokens 16   # quick look
    python benchmarks/eval_setup.py --shape qwen2.5-vl-7b --layers 1 --repeats 1 --max-new-tokens 8   # 7B widths
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASK = "medmnist_pneumonia_passk"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default: build one, see --shape)")
    p.add_argument("--shape", choices=["tiny", "qwen2.5-vl-7b"], default="tiny",
                   help="the built checkpoint: the tiny offline Qwen2.5-VL, or Qwen2.5-VL-7B's widths with random weights and --layers layers")
    p.add_argument("--layers", type=int, default=1, help="text (and vision) layers of the 7B-shaped checkpoint")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-eval", action="store_true", help="only the tasks-list and missing-checkpoint timings")
    p.add_argument("--baseline", default=None, metavar="REV", help="also time this git revision of the repository, interleaved")
    p.add_argument("--keep", action="store_true", help="keep the work folder (data, checkpoint, caches, outputs) and print its path")
    return p.parse_args()


def run(argv: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    proc.ended = time.time()
    return time.perf_counter() - t, proc


def timed_eval(args_list: list[str], env: dict, work: Path, tag: str) -> dict:
    out = work / f"times-{tag}.json"
    wall, proc = run([sys.executable, str(HERE / "_timed_eval.py"), str(out), *args_list], env)
    if proc.returncode != 0:
        raise SystemExit(f"medbridge eval failed ({tag}):\n{proc.stderr[-3000:]}")
    times = json.loads(out.read_text())
    times["exit_s"] = proc.ended - times["end"]
    times["wall_s"] = wall  # what the user waits for: the whole process, exit included
    found = re.findall(r"(\d+) of (\d+) questions? from the sample cache", proc.stderr)
    times["from_cache"] = f"{sum(int(a) for a, _ in found)} of {sum(int(b) for _, b in found)}" if found else "not printed"
    return times


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def checkout(rev: str, work: Path) -> dict:
    """``rev`` of this repository as an importable ``medbridge`` package, ahead of the installed one."""
    root = work / "baseline"
    (root / "medbridge").mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root / "medbridge")], input=archive, check=True)
    return {"PYTHONPATH": str(root)}


def capture(args, env: dict, work: Path) -> Path:
    """One untimed run of the eval command that records the engine's inputs and outputs."""
    out = work / "capture.pkl"
    cap_env = {**env, "MEDBRIDGE_CACHE": str(work / "cache-capture"), "MEDBRIDGE_BENCH_CAPTURE": str(out)}
    timed_eval(eval_args(args, work, "capture"), cap_env, work, "capture")
    return out


def bare_round(captured: Path, env: dict, work: Path, rows: list) -> None:
    out = work / "times-bare.json"
    wall, proc = run([sys.executable, str(HERE / "_bare_engine.py"), str(captured), str(out)], env)
    if proc.returncode != 0:
        raise SystemExit(f"the bare program failed:\n{proc.stderr[-3000:]}")
    times = json.loads(out.read_text())
    times["wall_s"], times["exit_s"] = wall, proc.ended - times["end"]
    rows.append(times)


def eval_args(args, work: Path, tag: str) -> list[str]:
    return ["eval", "--model", args.model, "--tasks", TASK, "--data-root", str(work / "data"), "--size", "28",
            "--gen-kwargs", f"max_new_tokens={args.max_new_tokens}", "--output", str(work / f"out-{tag}")]


def one_round(args, env: dict, work: Path, tag: str, rows: dict) -> None:
    cli = [sys.executable, "-m", "medbridge.harness"]
    wall, proc = run([*cli, "tasks", "list"], env)
    rows["tasks_list"].append(wall)
    rows["tasks_list_debug"].append(proc.stdout.count("DEBUG") + proc.stderr.count("DEBUG"))
    wall, proc = run([*cli, "eval", "--model", str(work / "missing"), "--tasks", TASK, "--output", str(work / "o")], env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    rows["missing_ckpt"].append(wall)
    if args.skip_eval:
        return
    cache_env = {**env, "MEDBRIDGE_CACHE": str(work / f"cache-{tag}")}
    rows["first"].append(timed_eval(eval_args(args, work, f"{tag}-a"), cache_env, work, f"{tag}a"))
    rows["rerun"].append(timed_eval(eval_args(args, work, f"{tag}-b"), cache_env, work, f"{tag}b"))


def report(name: str, rows: dict, args, bare: list | None = None) -> dict:
    print(f"\n== {name}")
    print(f"medbridge tasks list              wall s {spread(rows['tasks_list'])}   DEBUG lines {spread(rows['tasks_list_debug'], '{:.0f}')}")
    print(f"eval, missing checkpoint          wall s {spread(rows['missing_ckpt'])}")
    if args.skip_eval:
        return {"tasks_list": rows["tasks_list"], "missing_ckpt": rows["missing_ckpt"]}
    first, rerun = rows["first"], rows["rerun"]
    setup = [t["wall_s"] - t["load_s"] - t["engine_s"] for t in first]
    ratio = [t["wall_s"] / (t["load_s"] + t["engine_s"]) for t in first]
    print(f"eval {TASK}, {args.questions} questions x 16, max_new_tokens={args.max_new_tokens}, empty cache:")
    print(f"  wall s (whole process)          {spread([t['wall_s'] for t in first])}")
    print(f"  of which interpreter exit s     {spread([t['exit_s'] for t in first])}")
    print(f"  model load s                    {spread([t['load_s'] for t in first])}")
    print(f"  engine s                        {spread([t['engine_s'] for t in first])}")
    print(f"  generate_until s                {spread([t['generate_until_s'] for t in first])}")
    print(f"  set-up s (wall - load - engine) {spread(setup)}   (target <= 5)")
    print(f"  wall / (load + engine)          {spread(ratio, '{:.3f}')}   (target <= 1.10)")
    print("same command again, full cache:")
    print(f"  wall s (whole process)          {spread([t['wall_s'] for t in rerun])}")
    print(f"  generate_until s                {spread([t['generate_until_s'] for t in rerun])}")
    print(f"  engine s                        {spread([t['engine_s'] for t in rerun])}")
    print(f"  questions from the cache        {', '.join(t['from_cache'] for t in rerun)}")
    if bare:  # paired by round: medbridge's run and the bare program of the same round
        print(f"the bare program (same engine, inputs and samples: {bare[0]['samples']} checked), whole process:")
        print(f"  wall s                          {spread([b['wall_s'] for b in bare])}")
        print(f"  of which interpreter exit s     {spread([b['exit_s'] for b in bare])}")
        print(f"  cold model load s (imports in)  {spread([b['load_s'] for b in bare])}")
        print(f"  chat template + images s        {spread([b['prepare_s'] for b in bare])}")
        print(f"  engine s                        {spread([b['engine_s'] for b in bare])}")
        print(f"  medbridge wall - bare wall s    {spread([t['wall_s'] - b['wall_s'] for t, b in zip(first, bare)])}")
        print(f"  medbridge wall / bare wall      {spread([t['wall_s'] / b['wall_s'] for t, b in zip(first, bare)], '{:.3f}')}   (target <= 1.10)")
        print(f"  wall / (cold load + engine)     {spread([t['wall_s'] / (b['load_s'] + t['engine_s']) for t, b in zip(first, bare)], '{:.3f}')}")
    return {"tasks_list": rows["tasks_list"], "missing_ckpt": rows["missing_ckpt"], "setup": setup, "rerun": [t["wall_s"] for t in rerun]}


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="eval-setup-"))
    try:
        return measure(args, work)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def measure(args, work: Path) -> int:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
    }
    if args.model is None and args.shape == "tiny":
        from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl

        args.model = str(build_tiny_qwen2_5_vl(work / "tiny"))
    elif args.model is None:
        from _bench_checkpoints import build_7b_shaped  # benchmarks/ is on sys.path when run

        args.model = str(build_7b_shaped(work / "7b-shaped", args.layers))
    from medbridge.harness.sources.medmnist_sample import write_sample

    write_sample(work / "data", flags=["pneumoniamnist"], counts={"train": 1, "val": 1, "test": args.questions // 2})

    arms = {"current (this checkout)": env}
    if args.baseline:
        arms[f"baseline ({args.baseline})"] = {**env, **checkout(args.baseline, work)}
    rows = {name: {"tasks_list": [], "tasks_list_debug": [], "missing_ckpt": [], "first": [], "rerun": []} for name in arms}
    captured = None if args.skip_eval else capture(args, env, work)
    bare: list = []
    for r in range(args.repeats):
        for i, (name, arm_env) in enumerate(arms.items()):
            one_round(args, arm_env, work, f"{i}-{r}", rows[name])
        if captured:
            bare_round(captured, env, work, bare)

    print(f"\nthreads={args.threads}, repeats={args.repeats}, model={args.model} ({args.shape if args.model.startswith(str(work)) else 'given'}); min / median / max")
    summaries = {name: report(name, arm_rows, args, bare if name.startswith("current") else None) for name, arm_rows in rows.items()}
    if args.baseline:
        (cur, base) = summaries.values()
        print("\n== current / baseline, ratio of medians (below 1: current is faster)")
        for key, summary in cur.items():
            print(f"  {key:<14} {statistics.median(summary) / statistics.median(base[key]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
