"""Checkpoints the speed benchmarks run on, built offline: an end-of-sequence-free copy (every
sample decodes exactly ``max_new_tokens``), a random-weight model with Qwen2.5-VL-7B's widths,
and a checkpoint's pixel bounds. Used by ``passk_speed.py`` and ``scripts/gpu_training_speed.sh``;
not a user command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

BENCH_EOS = "<|bench_eos|>"


def _pad_vocab(tokenizer_json: dict, size: int) -> None:
    """Give the byte-level BPE vocabulary ``size`` entries, so every id the model can emit
    decodes (padding entries are plain byte-alphabet strings, never produced by encoding)."""
    vocab = tokenizer_json["model"]["vocab"]
    used = set(vocab.values()) | {t["id"] for t in tokenizer_json["added_tokens"]}
    letters = "abcdefghijklmnopqrstuvwxyz"
    i = 0
    for token_id in range(size):
        if token_id in used:
            continue
        name, n = "Ġ", i
        while True:
            name, n = name + letters[n % 26], n // 26
            if n == 0:
                break
        vocab[f"{name}{token_id}"] = token_id
        i += 1


def eos_free_copy(src: Path, dst: Path) -> Path:
    """A copy of ``src`` whose end-of-sequence token has the id one past the model's vocabulary:
    the model can never emit it, so every sample decodes to the full ``max_new_tokens``."""
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    text = config.get("text_config", config)
    vocab_size = int(text["vocab_size"])
    tok = json.loads((dst / "tokenizer.json").read_text())
    _pad_vocab(tok, vocab_size)
    tok["added_tokens"].append(
        {
            "id": vocab_size,
            "content": BENCH_EOS,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
    )
    (dst / "tokenizer.json").write_text(json.dumps(tok))
    tok_config = json.loads((dst / "tokenizer_config.json").read_text())
    tok_config["eos_token"] = BENCH_EOS
    (dst / "tokenizer_config.json").write_text(json.dumps(tok_config))
    text["eos_token_id"] = vocab_size
    (dst / "config.json").write_text(json.dumps(config))
    gen = json.loads((dst / "generation_config.json").read_text())
    gen["eos_token_id"] = vocab_size
    (dst / "generation_config.json").write_text(json.dumps(gen))
    return dst


def build_7b_shaped(path: Path, layers: int) -> Path:
    """Qwen2.5-VL-7B's layer widths, vocabulary and vision tower width with random weights and
    only ``layers`` text and vision layers (the tiny model's tokenizer, padded to the vocabulary)."""
    import torch
    from medbridge.harness.tiny_model import CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS, _train_tokenizer
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = _train_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=152064,
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=layers,
            num_attention_heads=28,
            num_key_value_heads=4,
            max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=layers,
            hidden_size=1280,
            intermediate_size=3420,
            num_heads=16,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            out_hidden_size=3584,
            fullatt_block_indexes=[layers - 1],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"]
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=4 * 28 * 28, max_pixels=256 * 28 * 28),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def pixel_bounds(ckpt: Path) -> tuple[int, int]:
    image = json.loads((ckpt / "processor_config.json").read_text()).get("image_processor", {})
    size = image.get("size") or {}
    return int(image.get("min_pixels") or size["shortest_edge"]), int(image.get("max_pixels") or size["longest_edge"])
