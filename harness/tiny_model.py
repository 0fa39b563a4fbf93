"""Build a tiny, random-weight Qwen2.5-VL checkpoint entirely offline.

The checkpoint proves plumbing, never quality: tests and the demo load it through the same
``from_pretrained`` calls a user's Qwen2.5-VL-7B goes through. Nothing here touches the hub:
the tokenizer is a byte-level BPE trained locally on a small built-in corpus, and the processor
is the real ``Qwen2_5_VLProcessor`` built from its parts.
"""

from __future__ import annotations

import json
from pathlib import Path

# The Qwen2 special tokens, in the order (and therefore with the ids) the real tokenizer uses.
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]

# A Qwen2-VL style chat template: one <|vision_start|><|image_pad|><|vision_end|> per image.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' or 'video' in part %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Text the BPE merges are learnt from: the vocabulary a medical MCQ prompt and answer use.
_CORPUS = [
    "Which of the following best describes this image? Options: A. B. C. D. E.",
    "First output the thinking process in <think> </think> tags, then output the final answer "
    "in <answer> </answer> tags. IMPORTANT: In <answer>, output ONLY the single option letter.",
    "<think>The image shows a lesion.</think><answer>A</answer> <answer>B</answer> <answer>C</answer>",
    "breast ultrasound chest x-ray pneumonia normal malignant benign organ kidney liver lung",
    "blood cell pathology tissue dermatoscope retina fundus optical coherence tomography",
]


def _train_tokenizer(vocab_size: int = 400, extra_special: tuple[str, ...] = ()):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=QWEN_SPECIAL_TOKENS + list(extra_special),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=QWEN_SPECIAL_TOKENS[3:] + list(extra_special),
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_qwen2_5_vl(path: str | Path, seed: int = 0, teach_format: bool = True) -> Path:
    """Write a loadable tiny Qwen2.5-VL checkpoint (model, tokenizer, processor) to ``path``.

    With ``teach_format`` (default) the random model is first taught the answer format (see
    :func:`teach_answer_format`, about 10 s on 2 CPU cores); its answers stay chance-level."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    text_hidden = 64
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=text_hidden,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            # mrope sections must sum to head_dim / 2 = 64 / 4 / 2 = 8.
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            out_hidden_size=text_hidden,
            fullatt_block_indexes=[1],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    # Small pixel budget: 4..64 patches of 28 px keeps CPU runs to seconds.
    image_processor = Qwen2VLImageProcessor(min_pixels=4 * 28 * 28, max_pixels=64 * 28 * 28)
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    loss = teach_answer_format(model, processor, seed=seed) if teach_format else None
    model.save_pretrained(path)
    processor.save_pretrained(path)
    card = {"what": "tiny random Qwen2.5-VL built offline by medbridge; plumbing only", "seed": seed, "format_taught": teach_format, "format_loss": loss}
    from .atomic_write import write_text_atomic

    write_text_atomic(path / "medbridge_tiny.json", json.dumps(card) + "\n")
    return path


def teach_answer_format(model, processor, steps: int = 120, batch: int = 8, seed: int = 0) -> float:
    """Briefly train the random model to answer MedMNIST prompts as
    ``<think>…</think><answer>X</answer>`` with X drawn uniformly from the offered letters.

    The result still knows nothing (its letters are chance), but it follows the answer format,
    so demo tables and end-to-end tests see a real mix of right, wrong and unreadable answers
    and non-trivial pass@k curves instead of all zeros. Returns the final loss.
    """
    import numpy as np
    import torch
    from PIL import Image

    from .answers import format_answer, letter_of_index
    from .prompt import mcq_messages
    from .sources.catalogue import MEDMNIST
    from .sources.medmnist import class_names

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    questions = [(d.question, class_names(d.flag)) for d in MEDMNIST.values()]
    tok = processor.tokenizer
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        texts, images, targets = [], [], []
        for _ in range(batch):
            question, options = questions[rng.integers(len(questions))]
            letter = letter_of_index(int(rng.integers(len(options))))
            prompt = processor.apply_chat_template(mcq_messages(question, options), add_generation_prompt=True, tokenize=False)
            target = format_answer(letter, think="The image is read.") + "<|im_end|>"
            texts.append(prompt + target)
            targets.append(target)
            images.append(Image.fromarray(rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)))
        enc = processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side="left")
        labels = torch.full_like(enc["input_ids"], -100)
        for i, target in enumerate(targets):
            n = len(tok(target, add_special_tokens=False)["input_ids"])
            labels[i, -n:] = enc["input_ids"][i, -n:]
        loss = model(**enc, labels=labels).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    return float(loss.detach())


# LLaVA-style template: "<image>" per image part, then the text (llava-hf checkpoints ship one).
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}ASSISTANT: {% endif %}"
)


def build_tiny_vlm(path: str | Path, arch: str, seed: int = 0) -> Path:
    """Tiny random checkpoints of other VLM families, to show the generic backend path works:
    ``qwen2_vl`` (Qwen2-VL), ``qwen3_vl`` (Qwen3-VL) and ``llava`` (LLaVA: CLIP vision tower +
    Llama text model).
    No format teaching: tests only need them to load, encode images and sample."""
    import torch
    from transformers import GenerationConfig

    if arch == "qwen2_5_vl":
        return build_tiny_qwen2_5_vl(path, seed=seed, teach_format=False)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if arch == "qwen2_vl":
        from transformers import (
            Qwen2VLConfig,
            Qwen2VLForConditionalGeneration,
            Qwen2VLImageProcessor,
            Qwen2VLProcessor,
            Qwen2VLVideoProcessor,
        )

        tokenizer = _train_tokenizer()
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
        config = Qwen2VLConfig(
            text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                             rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                             bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"]),
            vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        )
        model = Qwen2VLForConditionalGeneration(config).eval()
        processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=4 * 28 * 28, max_pixels=64 * 28 * 28), tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)
    elif arch == "qwen3_vl":
        from transformers import (
            Qwen2VLImageProcessor,
            Qwen3VLConfig,
            Qwen3VLForConditionalGeneration,
            Qwen3VLProcessor,
            Qwen3VLVideoProcessor,
        )

        tokenizer = _train_tokenizer()
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
        config = Qwen3VLConfig(
            text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                             rope_parameters={"rope_type": "default", "rope_theta": 5e6, "mrope_section": [2, 3, 3], "mrope_interleaved": True},
                             bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"]),
            # Qwen3-VL's layout: 16 px patches, a learned position table resampled per grid, deepstack taps.
            vision_config=dict(depth=3, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                               out_hidden_size=64, num_position_embeddings=64, deepstack_visual_indexes=[0, 1]),
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        )
        model = Qwen3VLForConditionalGeneration(config).eval()
        image_processor = Qwen2VLImageProcessor(patch_size=16, merge_size=2, min_pixels=4 * 32 * 32, max_pixels=64 * 32 * 32)
        processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=Qwen3VLVideoProcessor(), chat_template=CHAT_TEMPLATE)
    elif arch == "llava":
        from transformers import (
            CLIPImageProcessor,
            CLIPVisionConfig,
            LlamaConfig,
            LlavaConfig,
            LlavaForConditionalGeneration,
            LlavaProcessor,
        )

        tokenizer = _train_tokenizer(extra_special=("<image>",))
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (*QWEN_SPECIAL_TOKENS, "<image>")}
        vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14, projection_dim=32)
        text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
        config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=ids["<image>"], vision_feature_select_strategy="default", vision_feature_layer=-1)
        model = LlavaForConditionalGeneration(config).eval()
        image_processor = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
        # CLIP adds a CLS token, which the "default" strategy drops again: 1 additional token.
        processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=LLAVA_CHAT_TEMPLATE)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r}: use qwen2_5_vl, qwen2_vl, qwen3_vl or llava")
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"), eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
