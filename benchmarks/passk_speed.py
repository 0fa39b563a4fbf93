"""Pass@K generation speed: the same questions, K samples each, three ways, one run.

  (a) seed-style loop  : one ``model.generate`` per sample (the paper's released inference
                         script: K calls per question, batch 1, reseeded before each call)
  (b) lmms-eval stock  : lmms-eval's ``qwen2_5_vl`` backend with the task's ``repeats: K``
  (c) medbridge_hf     : medbridge's backend, K samples per question in one ``generate``

Prints wall time (whole run) and engine time of each: for (a) and (b) the time inside
``model.generate``; for (c) the time inside the backend's sampling and greedy calls, which also
holds its prompt encoding and its one prefill per question (so (c) is charged for more than
(a) and (b) are). Then the ratios a/c and b/c, and the sample counts (they must be equal).
Runs offline on the tiny checkpoint and the generated MedMNIST sample by default:

    python benchmarks/passk_speed.py                      # tiny model, CPU
    python benchmarks/passk_speed.py --model /ckpt/Qwen2.5-VL-7B-Instruct --device cuda \
        --data-root ~/.medmnist --size 224 --questions 32 --max-new-tokens 512
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default: build the tiny offline Qwen2.5-VL)")
    p.add_argument("--task", default="medmnist_organa_passk")
    p.add_argument("--data-root", default=None, help="MedMNIST folder (default: write the generated sample)")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--questions", type=int, default=8)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--device", default="cpu")
    return p.parse_args()


def timed(cls, *names):
    """Wrap methods of ``cls`` to add up the time spent inside them (outermost calls only)."""
    spent, depth, originals = {"s": 0.0}, {"n": 0}, {n: getattr(cls, n) for n in names}

    def wrap(original):
        def method(self, *a, **kw):
            depth["n"] += 1
            t = time.perf_counter()
            try:
                return original(self, *a, **kw)
            finally:
                depth["n"] -= 1
                if depth["n"] == 0:
                    spent["s"] += time.perf_counter() - t

        return method

    for name, original in originals.items():
        setattr(cls, name, wrap(original))
    return spent, lambda: [setattr(cls, n, o) for n, o in originals.items()]


def seed_style_loop(model_path, docs, k, max_new_tokens, device):
    """(a): what the paper's inference script does, on the same prompts and images."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from medbridge.harness.lmms_hooks import doc_to_text, doc_to_visual

    start = time.perf_counter()
    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype="auto", device_map=device).eval()
    processor = AutoProcessor.from_pretrained(model_path)
    gen_time, n = 0.0, 0
    for idx, doc in enumerate(docs):
        images = doc_to_visual(doc)
        messages = [{"role": "user", "content": [*({"type": "image"} for _ in images), {"type": "text", "text": doc_to_text(doc)}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        for i in range(k):
            torch.manual_seed(123 + idx * 1000 + i)
            inputs = processor(text=[text], images=images, return_tensors="pt").to(device)
            t = time.perf_counter()
            with torch.inference_mode():
                model.generate(**inputs, do_sample=True, temperature=0.7, top_p=0.9, top_k=0, max_new_tokens=max_new_tokens, pad_token_id=processor.tokenizer.pad_token_id)
            gen_time += time.perf_counter() - t
            n += 1
    return time.perf_counter() - start, gen_time, n


def lmms_eval_run(backend, model_args, task, limit, max_new_tokens, device):
    from lmms_eval.evaluator import simple_evaluate
    from transformers import GenerationMixin

    from medbridge.harness.backends.hf import MedbridgeHF
    from medbridge.harness.task_index import task_manager

    spent, restore = timed(MedbridgeHF, "sample", "greedy") if backend == "medbridge_hf" else timed(GenerationMixin, "generate")
    start = time.perf_counter()
    try:
        results = simple_evaluate(model=backend, model_args=model_args, tasks=[task], device=device, limit=limit, gen_kwargs=f"max_new_tokens={max_new_tokens}", task_manager=task_manager(), log_samples=True, verbosity="ERROR")
    finally:
        restore()
    wall = time.perf_counter() - start
    n = sum(len(s["resps"][0]) if isinstance(s["resps"][0], list) else len(s["resps"]) for s in results["samples"][task])
    return wall, spent["s"], n


def main():
    args = parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="passk-speed-"))
    os.environ["MEDBRIDGE_CACHE"] = str(work / "cache")  # nothing may come from a cache
    if args.model is None:
        from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl

        args.model = str(build_tiny_qwen2_5_vl(work / "tiny"))
    if args.data_root is None:
        from medbridge.harness.sources.medmnist_sample import write_sample

        write_sample(work / "medmnist", size=args.size)
        args.data_root = str(work / "medmnist")
    os.environ["MEDMNIST_ROOT"], os.environ["MEDMNIST_SIZE"] = args.data_root, str(args.size)

    from medbridge.harness.lmms_hooks import source_docs
    from medbridge.harness.sources import medmnist

    name = args.task.removeprefix("medmnist_").removesuffix("_passk")
    docs = medmnist.load_docs(name)[: args.questions]
    from medbridge.harness.sources import docs_to_dataset

    docs = list(docs_to_dataset(docs))
    assert source_docs  # the tasks below read the same docs through process_docs

    rows = {}
    rows["a"] = seed_style_loop(args.model, docs, args.k, args.max_new_tokens, args.device)
    qwen_args = f"pretrained={args.model}" + (",device_map=cpu" if args.device == "cpu" else "")
    rows["b"] = lmms_eval_run("qwen2_5_vl", qwen_args, args.task, args.questions, args.max_new_tokens, args.device)
    rows["c"] = lmms_eval_run("medbridge_hf", f"pretrained={args.model},cache=off", args.task, args.questions, args.max_new_tokens, args.device)

    labels = {"a": "seed-style loop (K generate calls)", "b": "lmms-eval qwen2_5_vl + repeats", "c": "medbridge_hf (K in one call)"}
    print(f"\n{args.questions} questions x K={args.k}, max_new_tokens={args.max_new_tokens}, device={args.device}, model={args.model}")
    print(f"{'':38} {'wall s':>8} {'engine s':>11} {'samples':>8}")
    for key in "abc":
        wall, gen, n = rows[key]
        print(f"({key}) {labels[key]:<34} {wall:8.1f} {gen:11.1f} {n:8d}")
    (wa, ga, na), (wb, gb, nb), (wc, gc, nc) = rows["a"], rows["b"], rows["c"]
    print(f"ratios (engine time):     a/c = {ga / gc:.1f}x, b/c = {gb / gc:.1f}x")
    print(f"ratios (wall time):       a/c = {wa / wc:.1f}x, b/c = {wb / wc:.1f}x")
    if not na == nb == nc == args.questions * args.k:
        print(f"sample counts differ: {na}, {nb}, {nc} (expected {args.questions * args.k})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
