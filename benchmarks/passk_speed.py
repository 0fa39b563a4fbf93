"""Pass@K generation speed: the same questions, K samples each, several ways, in one run.

  (a)   seed-style loop : one ``model.generate`` per sample (the paper's released inference
                          script: K calls per question, batch 1, reseeded before each call)
  (b)   lmms-eval stock : lmms-eval's ``qwen2_5_vl`` backend with the task's ``repeats: K``
                          (its default batch size 1: K generate calls per question)
  (b16) lmms-eval stock, ``batch_size=K``: the K clones of a question in one generate call
                          (K prefills); shown so the comparison with (c) is not only against
                          batch 1
  (c)   medbridge_hf    : medbridge's backend: one prefill per question, the K rows decoded
                          together, each row with its own seeded generator
  (c1)  medbridge_hf, ``row_seeds=false``: the same with one generator for all rows; the
                          ratio c/c1 is what prefix-stable sampling costs

Fair by construction, and what is not matched is printed:

- same questions (``--questions`` of the task), the task YAML's sampling settings
  (temperature, top_p, top_k, K = ``repeats``) in every arm, ``max_new_tokens`` in every arm;
- the decode length is forced: the checkpoint is copied with an end-of-sequence id the model
  cannot emit (one past its vocabulary), so every sample decodes exactly ``max_new_tokens``
  tokens; the generated and prompt tokens each arm really processed are counted inside
  ``generate`` and printed;
- dtype bfloat16 everywhere (lmms-eval's ``qwen2_5_vl`` hard-codes it), SDPA attention, the
  checkpoint's own pixel bounds passed to every arm (lmms-eval's default ``min_pixels`` is
  256·28², which would give its prompts twice the tokens);
- engine time is charged alike: the time inside each backend's ``generate_until`` (doc
  fetch, messages, chat template, image preprocessing, ``generate``, decoding) and for (a) the
  same steps in its loop; wall time adds model load and (b, c) lmms-eval's task set-up;
- the thread count is set (``torch.set_num_threads``) and printed; arms are interleaved, the
  order rotating each round, after one untimed warm-up round; every ratio is given as
  min / median / max over ``--repeats`` rounds.

    python benchmarks/passk_speed.py                              # tiny model, CPU, 1 and 2 threads
    python benchmarks/passk_speed.py --shape qwen2.5-vl-7b --layers 2 --device cuda   # 7B-shaped, random
    python benchmarks/passk_speed.py --model /ckpt/Qwen2.5-VL-7B-Instruct --device cuda --size 224 --questions 32 --max-new-tokens 512
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _bench_checkpoints import build_7b_shaped, eos_free_copy, pixel_bounds  # benchmarks/ is on sys.path when run

# ---- timing and counting ---------------------------------------------------------------


class Meter:
    """Seconds inside wrapped methods (outermost calls only) and the tokens ``generate`` saw."""

    def __init__(self):
        self.engine = 0.0
        self.new_tokens = 0
        self.prompt_tokens = 0
        self.rows = 0


METER = Meter()


def wrap_engine(cls, name):
    original = getattr(cls, name)
    depth = {"n": 0}

    def method(self, *a, **kw):
        depth["n"] += 1
        t = time.perf_counter()
        try:
            return original(self, *a, **kw)
        finally:
            depth["n"] -= 1
            if depth["n"] == 0:
                METER.engine += time.perf_counter() - t

    setattr(cls, name, method)


def load_at_init(cls):
    """medbridge_hf loads its model on the first question the cache cannot answer; here it
    loads in its constructor, as (b)'s backend does, so no arm's engine time holds a load."""
    original = cls.__init__

    def init(self, *a, **kw):
        original(self, *a, **kw)
        self.load()

    cls.__init__ = init


def count_generate():
    """Count, inside transformers' ``generate``, the rows decoded, their prompt tokens and the
    tokens generated (output length minus input length, per row)."""
    from transformers import GenerationMixin

    original = GenerationMixin.generate

    def generate(self, *a, **kw):
        out = original(self, *a, **kw)
        ids, mask = kw.get("input_ids"), kw.get("attention_mask")
        rows = out.shape[0]
        METER.rows += rows
        METER.new_tokens += (out.shape[1] - ids.shape[1]) * rows
        per_row = mask.sum(1) if mask is not None else ids.new_full((ids.shape[0],), ids.shape[1])
        METER.prompt_tokens += int(per_row.sum()) * (rows // ids.shape[0])
        return out

    GenerationMixin.generate = generate


# ---- the arms -----------------------------------------------------------------------------


def seed_style_loop(ckpt, docs, k, gen, max_new_tokens, device, pixels):
    """(a): what the paper's inference script does, on the same prompts and images."""
    import torch
    from medbridge.harness.lmms.hooks import doc_to_text, doc_to_visual
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(ckpt, dtype=torch.bfloat16, attn_implementation="sdpa", device_map=device).eval()
    processor = AutoProcessor.from_pretrained(ckpt, min_pixels=pixels[0], max_pixels=pixels[1])
    start = time.perf_counter()
    n = 0
    for idx in range(len(docs)):
        doc = docs[idx]  # decoded here, as lmms-eval's backends fetch docs inside generate_until
        images = doc_to_visual(doc)
        messages = [{"role": "user", "content": [*({"type": "image"} for _ in images), {"type": "text", "text": doc_to_text(doc)}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        for i in range(k):
            torch.manual_seed(123 + idx * 1000 + i)
            inputs = processor(text=[text], images=images, return_tensors="pt").to(device)
            with torch.inference_mode():
                out = model.generate(
                    **inputs,
                    do_sample=True,
                    temperature=gen["temperature"],
                    top_p=gen["top_p"],
                    top_k=gen["top_k"],
                    max_new_tokens=max_new_tokens,
                    pad_token_id=processor.tokenizer.pad_token_id,
                )
            processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            n += 1
    METER.engine += time.perf_counter() - start
    return n


def lmms_eval_run(backend, model_args, task, limit, max_new_tokens, device, batch_size, manager):
    from lmms_eval.evaluator import simple_evaluate

    results = simple_evaluate(
        model=backend,
        model_args=model_args,
        tasks=[task],
        device=device,
        limit=limit,
        batch_size=batch_size,
        gen_kwargs=f"max_new_tokens={max_new_tokens}",
        task_manager=manager,
        log_samples=True,
        verbosity="ERROR",
    )
    return sum(len(s["resps"][0]) if isinstance(s["resps"][0], list) else len(s["resps"]) for s in results["samples"][task])


# ---- main -------------------------------------------------------------------------------


def spread(values, fmt="{:.2f}"):
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default: build one, see --shape)")
    p.add_argument(
        "--shape",
        default="tiny",
        choices=["tiny", "qwen2.5-vl-7b"],
        help="checkpoint to build when --model is not given: the tiny offline model, "
        "or Qwen2.5-VL-7B's widths (text 3584/18944, 28 heads, 152064 vocab; vision 1280) with random weights and --layers layers",
    )
    p.add_argument("--layers", type=int, default=2, help="text (and vision) layers of the 7B-shaped checkpoint")
    p.add_argument("--task", default="medmnist_organa_passk")
    p.add_argument("--data-root", default=None, help="MedMNIST folder (default: write the generated sample)")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--questions", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", default="1,2", help="CPU thread counts to run at (torch.set_num_threads), comma-separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--arms", default="a,b,b16,c,c1")
    return p.parse_args()


def main():
    args = parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    work = Path(tempfile.mkdtemp(prefix="passk-speed-"))
    os.environ["MEDBRIDGE_CACHE"] = str(work / "cache")  # nothing may come from a cache (and (c) runs cache=off)
    if args.model is None:
        if args.shape == "tiny":
            from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl

            args.model = str(build_tiny_qwen2_5_vl(work / "built"))
        else:
            args.model = str(build_7b_shaped(work / "built", args.layers))
    ckpt = eos_free_copy(Path(args.model), work / "eos-free")
    if args.data_root is None:
        from medbridge.harness.sources.medmnist_sample import write_sample

        name = args.task.removeprefix("medmnist_").removesuffix("_passk")
        write_sample(
            work / "medmnist", size=args.size, flags=[f"{name}mnist"], counts={"train": 1, "val": 1, "test": max(4, args.questions)}
        )
        args.data_root = str(work / "medmnist")
    os.environ["MEDMNIST_ROOT"], os.environ["MEDMNIST_SIZE"] = args.data_root, str(args.size)

    import torch
    from lmms_eval.models.chat.qwen2_5_vl import Qwen2_5_VL
    from medbridge.harness.backends.hf import MedbridgeHF
    from medbridge.harness.lmms.discovery import tasks_dir
    from medbridge.harness.lmms.task_files import local_index, read_task_yaml
    from medbridge.harness.lmms.task_index import task_manager
    from medbridge.harness.sources import docs_to_dataset, medmnist

    config = read_task_yaml(local_index(None, tasks_dir())[args.task]["yaml_path"])
    k = int(config["repeats"])
    gen = {key: config["generation_kwargs"][key] for key in ("temperature", "top_p", "top_k")}
    docs = docs_to_dataset(
        medmnist.load_docs(config["dataset_name"].removesuffix("mnist"), split=config.get("test_split", "test"))[: args.questions]
    )
    pixels = pixel_bounds(ckpt)
    manager = task_manager(local=True)
    wrap_engine(Qwen2_5_VL, "generate_until")
    wrap_engine(MedbridgeHF, "generate_until")
    load_at_init(MedbridgeHF)
    count_generate()

    device_map = args.device if args.device == "cpu" else "cuda:0"
    pix = f"min_pixels={pixels[0]},max_pixels={pixels[1]}"
    arms = {
        "a": (
            "seed-style loop, K generate calls",
            lambda: seed_style_loop(str(ckpt), docs, k, gen, args.max_new_tokens, args.device, pixels),
        ),
        "b": (
            "lmms-eval qwen2_5_vl, batch 1",
            lambda: lmms_eval_run(
                "qwen2_5_vl",
                f"pretrained={ckpt},device_map={device_map},attn_implementation=sdpa,{pix}",
                args.task,
                args.questions,
                args.max_new_tokens,
                args.device,
                1,
                manager,
            ),
        ),
        "b16": (
            f"lmms-eval qwen2_5_vl, batch {k}",
            lambda: lmms_eval_run(
                "qwen2_5_vl",
                f"pretrained={ckpt},device_map={device_map},attn_implementation=sdpa,{pix}",
                args.task,
                args.questions,
                args.max_new_tokens,
                args.device,
                k,
                manager,
            ),
        ),
        "c": (
            "medbridge_hf",
            lambda: lmms_eval_run(
                "medbridge_hf",
                f"pretrained={ckpt},dtype=bfloat16,attn_implementation=sdpa,{pix},cache=off",
                args.task,
                args.questions,
                args.max_new_tokens,
                args.device,
                1,
                manager,
            ),
        ),
        "c1": (
            "medbridge_hf, row_seeds=false",
            lambda: lmms_eval_run(
                "medbridge_hf",
                f"pretrained={ckpt},dtype=bfloat16,attn_implementation=sdpa,{pix},cache=off,row_seeds=false",
                args.task,
                args.questions,
                args.max_new_tokens,
                args.device,
                1,
                manager,
            ),
        ),
    }
    order = [a for a in args.arms.split(",") if a]

    def measure(arm):
        global METER
        METER = Meter()
        t = time.perf_counter()
        samples = arms[arm][1]()
        return {
            "wall": time.perf_counter() - t,
            "engine": METER.engine,
            "samples": samples,
            "new_tokens": METER.new_tokens,
            "prompt_tokens": METER.prompt_tokens,
            "rows": METER.rows,
        }

    print(
        f"\n{args.questions} questions x K={k} of {args.task}; sampling from the task YAML: {gen}; "
        f"max_new_tokens={args.max_new_tokens} (forced: EOS id unreachable)"
    )
    print(
        f"model {args.model} ({args.shape if args.model.startswith(str(work)) else 'given'}), "
        f"dtype bfloat16, attention sdpa, pixels {pixels}, device {args.device}"
    )
    print(
        "not matched: (b) resizes images with qwen_vl_utils before the processor (same bounds, so the same grid); "
        "(b, c) include lmms-eval's "
        "per-request bookkeeping in their engine time and its task set-up in their wall time, (a) has neither"
    )
    for threads in [int(t) for t in args.threads.split(",") if t]:
        torch.set_num_threads(threads)
        for arm in order:  # warm-up round, not counted
            measure(arm)
        rounds = []
        for r in range(args.repeats):
            rotated = order[r % len(order) :] + order[: r % len(order)]
            rounds.append({arm: measure(arm) for arm in rotated})
        print(
            f"\nthreads {threads} (torch.get_num_threads() = {torch.get_num_threads()}), "
            f"{args.repeats} interleaved rounds after a warm-up; min / median / max"
        )
        print(f"{'arm':<38} {'wall s':>22} {'engine s':>22} {'samples':>8} {'new tokens':>11} {'prompt tok/row':>15}")
        for arm in order:
            runs = [rd[arm] for rd in rounds]
            last = runs[-1]
            print(
                f"({arm}) {arms[arm][0]:<33} {spread([x['wall'] for x in runs]):>22} {spread([x['engine'] for x in runs]):>22} "
                f"{last['samples']:>8} {last['new_tokens']:>11} {last['prompt_tokens'] / max(1, last['rows']):>15.1f}"
            )
        for base in [a for a in ("a", "b", "b16") if a in order]:
            if "c" in order:
                eng = [rd[base]["engine"] / rd["c"]["engine"] for rd in rounds]
                wall = [rd[base]["wall"] / rd["c"]["wall"] for rd in rounds]
                print(f"{base}/c   engine {spread(eng, '{:.1f}x')}   wall {spread(wall, '{:.1f}x')}")
        if "c" in order and "c1" in order:
            cost = [rd["c"]["engine"] / rd["c1"]["engine"] for rd in rounds]
            print(f"c/c1  engine {spread(cost, '{:.2f}')}   (cost of per-row seeded sampling)")
        expected = args.questions * k
        bad = {
            arm: (rounds[-1][arm]["samples"], rounds[-1][arm]["new_tokens"])
            for arm in order
            if rounds[-1][arm]["samples"] != expected or rounds[-1][arm]["new_tokens"] != expected * args.max_new_tokens
        }
        if bad:
            print(f"arms that did not produce {expected} samples of {args.max_new_tokens} tokens each: {bad}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
