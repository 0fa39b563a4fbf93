"""The least a program must do to produce the samples of a ``medbridge eval`` run: the reference
that ``benchmarks/eval_setup.py`` divides medbridge's wall time by. Not a user command.

It replays what ``_timed_eval.py`` captured (``MEDBRIDGE_BENCH_CAPTURE``) from a run of the same
command: imports torch and transformers, loads the model and processor with the backend's own
arguments, and for each question applies the chat template, preprocesses its images and samples
with the same engine (``HFSampler``: same generation settings, seeds and thread count). No
lmms-eval, no task, no cache, no grading, no outputs. It gets the garbage-collector settings
the ``medbridge`` executable uses (``host.py``: fewer full collections while importing, none at
exit, which otherwise costs it ~0.8 s), so the comparison is of the work, not of those. Every
sample must equal the captured one, or it exits 1: the two programs did the same work.

Writes JSON: ``load_s`` (process start to model and processor ready: imports included, which is
what loading a checkpoint costs a fresh process), ``prepare_s``, ``engine_s``, ``end`` (wall-clock
time before interpreter exit), ``samples``.

    python benchmarks/_bare_engine.py CAPTURE.pkl OUT.json
"""

import time

START = time.perf_counter()

import json  # noqa: E402
import pickle  # noqa: E402
import sys  # noqa: E402

from medbridge.harness.host import fewer_full_collections, skip_exit_collections  # noqa: E402


def main() -> int:
    fewer_full_collections()
    try:
        return replay()
    finally:
        skip_exit_collections()


def replay() -> int:
    capture_path, out = sys.argv[1], sys.argv[2]
    with open(capture_path, "rb") as f:
        capture = pickle.load(f)  # the questions' messages and images: this program's input data
    args = capture["load"]

    import torch
    from medbridge.harness.sampling import HFSampler
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(args["ref"], **args["model"]).eval()
    processor = AutoProcessor.from_pretrained(args["ref"], **args["processor"])
    sampler = HFSampler(model, processor, torch.device(args["device"]), prefill_once=args["prefill_once"], row_seeds=args["row_seeds"])
    times = {"load_s": time.perf_counter() - START, "prepare_s": 0.0, "engine_s": 0.0, "samples": 0}

    mismatched = 0
    for q in capture["questions"]:
        t = time.perf_counter()
        prepared, _ = sampler.prepare(q["messages"], q["images"])
        t2 = time.perf_counter()
        samples = sampler.sample(prepared, q["n"], q["gen"], q["seed"], q["first"])
        times["engine_s"] += time.perf_counter() - t2
        times["prepare_s"] += t2 - t
        times["samples"] += len(samples)
        mismatched += samples != q["samples"]
    times["end"] = time.time()
    with open(out, "w") as f:
        json.dump(times, f)
    if mismatched:
        print(f"_bare_engine: {mismatched} of {len(capture['questions'])} questions gave other samples than the medbridge run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
