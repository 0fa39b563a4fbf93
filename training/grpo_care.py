"""GRPO-CARE (consistency-aware GRPO) as a subclass of TRL's ``GRPOTrainer``.

TRL does the rollouts (G completions per prompt), the group-normalised advantages, the loss
(``loss_type="grpo"``, β = 0) and the logging. This adds GRPO-CARE's consistency bonus
(github.com/TencentARC/GRPO-CARE, grpo_trainer_ref_ema.py::compute_loss) on top of TRL's reward columns ``accuracy``, ``format`` and a
``consistency_bonus`` placeholder:

- c_i = exp(mean log π_ref over the answer span of completion i), π_ref the EMA reference
  (:mod:`.ema`) teacher-forced on prompt + completion; an empty span gives c_i = 1;
- ĉ_i = min(c_i, τ); S = {i : acc_i > 0.1 and acc_i ≥ mean acc}; c̄ = mean of ĉ over S;
- bonus_i = λ · acc_i · [i ∈ S and ĉ_i ≥ c̄ − m]; nobody gets one when S is empty.

Groups are formed after TRL gathers every process's rewards, so a group split across
processes is scored whole. ``use_care: false`` gives vanilla GRPO with the same trainer.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from trl import GRPOTrainer
from trl.data_utils import apply_chat_template

from .callbacks import EMAUpdateCallback
from .checkpoints import MarksCompleteCheckpoints
from .ema import EMAReference
from .rewards import accuracy_reward, consistency_bonus, format_reward


def care_bonus(acc: torch.Tensor, consistency: torch.Tensor, *, coefficient: float, margin: float, clip: float) -> torch.Tensor:
    """The CARE bonus for groups: ``acc`` and ``consistency`` shaped (groups, G)."""
    c = consistency.clamp(max=clip)
    accurate = (acc > 0.1) & (acc >= acc.mean(dim=1, keepdim=True))
    count = accurate.sum(dim=1, keepdim=True)
    reference = torch.where(accurate, c, torch.zeros_like(c)).sum(dim=1, keepdim=True) / count.clamp(min=1)
    gets = accurate & (c >= reference - margin) & (count > 0)
    return coefficient * acc * gets.to(acc.dtype)


def answer_span_mask(token_texts: list[str]) -> list[bool]:
    """Which completion tokens overlap the content of the last ``<answer>`` (to ``</answer>`` or
    the end). Character offsets, not token matching: BPE merges tags with their neighbours
    (``</think><answer>`` splits as ``</``, ``think``, ``><``, ``answer``, ``>``), so a token that
    straddles the tag and the letter counts as part of the span."""
    text = "".join(token_texts).lower()
    open_at = text.rfind("<answer>")
    if open_at < 0:
        return [False] * len(token_texts)
    start = open_at + len("<answer>")
    end = text.find("</answer>", start)
    end = len(text) if end < 0 else end
    mask, pos = [], 0
    for piece in token_texts:
        lo, hi = pos, pos + len(piece)
        pos = hi
        mask.append(hi > start and lo < end)
    return mask


class GRPOCareTrainer(MarksCompleteCheckpoints, GRPOTrainer):
    """TRL's GRPOTrainer with medbridge's rewards, GRPO-CARE's bonus and a resumable EMA."""

    def __init__(self, model: str, args, train_dataset, processing_class=None, callbacks=None, **kwargs):
        reward_funcs = [accuracy_reward, format_reward] + ([consistency_bonus] if args.use_care else [])
        super().__init__(model=model, reward_funcs=reward_funcs, args=args, train_dataset=train_dataset,
                         processing_class=processing_class, callbacks=callbacks, **kwargs)
        self.ema: EMAReference | None = None
        if args.use_care:
            self.ema = EMAReference(model, self.accelerator, decay=args.care_ema_decay, every=args.care_ema_every,
                                    dtype=args.care_ema_dtype, trust_remote_code=args.trust_remote_code)
            self.add_callback(EMAUpdateCallback(self))

    # ---- the consistency bonus ------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.ema is None:
            return rewards
        started = time.perf_counter()
        local = self._consistency(prompts, completion_ids_list)
        consistency = self.accelerator.gather(local)
        mode = "train" if self.model.training else "eval"
        group = self.num_generations if mode == "train" else self.num_generations_eval
        names = self.reward_func_names
        acc = rewards[:, names.index("accuracy")].nan_to_num(0.0)
        bonus = care_bonus(acc.view(-1, group), consistency.view(-1, group), coefficient=self.args.care_bonus_coefficient,
                           margin=self.args.care_margin, clip=self.args.care_confidence_clip)
        rewards[:, names.index("consistency_bonus")] = bonus.view(-1).to(rewards.dtype)
        self._metrics[mode]["care/consistency/mean"].append(consistency.mean().item())
        self._metrics[mode]["care/scoring_seconds"].append(time.perf_counter() - started)
        return rewards

    @torch.no_grad()
    def _consistency(self, prompts, completion_ids_list) -> torch.Tensor:
        """Per local completion: exp(mean log π_ref) over its answer span (1.0 when it has none)."""
        device = self.accelerator.device
        texts = [apply_chat_template({"prompt": p}, self.processing_class, **self.chat_template_kwargs)["prompt"] for p in prompts]
        images = [[part["image"] for m in p if isinstance(m["content"], list) for part in m["content"] if part.get("type") == "image"] for p in prompts]
        has_images = any(images)
        encoded = self.processing_class(text=texts, images=images if has_images else None, padding=True, padding_side="left", return_tensors="pt")
        prompt_ids, prompt_mask = encoded["input_ids"].to(device), encoded["attention_mask"].to(device)
        pad = self._tokenizer.pad_token_id
        width = max(len(c) for c in completion_ids_list)
        completion_ids = torch.full((len(completion_ids_list), width), pad, dtype=torch.long, device=device)
        completion_mask = torch.zeros_like(completion_ids)
        span = torch.zeros(completion_ids.shape, dtype=torch.bool, device=device)
        for i, ids in enumerate(completion_ids_list):
            completion_ids[i, : len(ids)] = torch.tensor(ids, device=device)
            completion_mask[i, : len(ids)] = 1
            pieces = self._tokenizer.batch_decode([[t] for t in ids], skip_special_tokens=False)
            span[i, : len(ids)] = torch.tensor(answer_span_mask(pieces), device=device)
        forward = {k: v.to(device) for k, v in encoded.items() if k not in ("input_ids", "attention_mask")}
        for key in ("mm_token_type_ids", "token_type_ids"):
            if key in forward:
                forward[key] = torch.cat([forward[key], forward[key].new_zeros(completion_ids.shape)], dim=1)
        logps, _, _ = self._get_per_token_logps_and_entropies(
            self.ema.model, torch.cat([prompt_ids, completion_ids], dim=1), torch.cat([prompt_mask, completion_mask], dim=1),
            completion_ids.size(1), batch_size=self.args.per_device_train_batch_size,
            num_images=[len(i) for i in images] if has_images else None, **forward,
        )
        counts = span.sum(dim=1)
        mean_logp = torch.where(span, logps.float(), torch.zeros_like(logps, dtype=torch.float32)).sum(dim=1) / counts.clamp(min=1)
        return torch.where(counts > 0, mean_logp.exp(), torch.ones_like(mean_logp))

    # ---- checkpoints carry the EMA reference --------------------------------------------------------
    def _save_extra_checkpoint_state(self, folder: Path) -> None:
        if self.ema is not None:
            self.ema.save(folder)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None and self.ema is not None:
            self.ema.load(checkpoint)

