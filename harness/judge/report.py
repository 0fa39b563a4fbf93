"""The judge in records and at the end of a run: the record's ``judge`` block, the run's
one-line summary, the error-rate limit, and the calibration table."""

from __future__ import annotations

import math

from ..errors import MedbridgeError
from .settings import ENV, MODES


class JudgeErrorRateExceeded(MedbridgeError):
    """Too many samples got no verdict from the judge."""


def judge_block(summary: dict | None) -> dict:
    """What a record says about its judge; ``{"mode": "off", "model": None}`` when none scored it."""
    if not summary:
        return {"mode": "off", "model": None}
    return _finite(summary)


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def validate_judge(judge, bad) -> None:
    """Check a record's optional ``judge`` block (``bad(what)`` raises)."""
    if judge is None:
        return
    if not isinstance(judge, dict) or judge.get("mode") not in MODES:
        bad(f"judge.mode must be one of {', '.join(MODES)}")
    if judge["mode"] == "off":
        return
    if not isinstance(judge.get("model"), str) or not judge["model"]:
        bad("a judged record needs judge.model (which judge produced its numbers)")
    rate = judge.get("error_rate")
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
        bad("judge.error_rate must be a number between 0 and 1")


def judged(records: list[dict]) -> list[dict]:
    return [r for r in records if (r.get("judge") or {}).get("mode", "off") != "off"]


def judge_summary_line(records: list[dict]) -> str | None:
    """One line for a run's judging, or None when nothing was judged."""
    blocks = [r["judge"] for r in judged(records)]
    if not blocks:
        return None
    judges = sorted({f"{b['model']} ({b['mode']})" for b in blocks})
    usage = {k: sum(b["usage"][k] for b in blocks) for k in ("requests", "cache_hits", "prompt_tokens", "completion_tokens")}
    sent = sum(b["samples_sent"] for b in blocks)
    errors = sum(b["samples_without_verdict"] for b in blocks)
    rate = errors / sent if sent else 0.0
    return (
        f"medbridge: judge {', '.join(judges)} on {len(blocks)} task(s): {usage['requests']:,} requests ({usage['cache_hits']:,} cached verdicts), "
        f"{usage['prompt_tokens']:,} prompt + {usage['completion_tokens']:,} completion tokens; {errors:,} of {sent:,} judged samples without a verdict ({100 * rate:.1f}%)"
    )


def check_error_rates(records: list[dict]) -> None:
    """Raise when a task's judge error rate passes its limit (``MEDBRIDGE_JUDGE_MAX_ERROR_RATE``,
    default 5 %, recorded in each judge block)."""
    over = [r for r in judged(records) if r["judge"]["error_rate"] > r["judge"].get("max_error_rate", 0.05)]
    if not over:
        return
    kinds: dict[str, int] = {}
    for r in over:
        for kind, n in r["judge"].get("error_kinds", {}).items():
            kinds[kind] = kinds.get(kind, 0) + n
    common = ", ".join(f"{k} ×{n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:3])
    tasks = ", ".join(f"{r['task']['name']} {100 * r['judge']['error_rate']:.1f}%" for r in over)
    limit = over[0]["judge"].get("max_error_rate", 0.05)
    raise JudgeErrorRateExceeded(
        f"judge error rate above the {100 * limit:g}% limit on {tasks} ({common}); records are written and say so",
        fix=f"check the judge server and rerun (verdicts already given are cached), or raise {ENV['max_error_rate']}",
    )


def _fmt(value, pct: bool = True) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def calibration_table(records: list[dict]) -> str:
    """Agreement of the judge with the exact grade, one row per record judged in mode ``all``."""
    header = ["task", "judge", "vs", "pairs", "agree", "kappa", "FP rate", "FN rate", "judge-only ✓", "rule-only ✓", "errors", "requests/q"]
    rows = []
    for r in judged(records):
        j = r["judge"]
        a = j.get("agreement")
        if not a:
            continue
        c = a["counts"]
        rows.append([
            r["task"]["name"], j["model"], a["reference"], str(a["n"]), _fmt(a["raw_agreement"]), _fmt(a["kappa"], pct=False),
            _fmt(a["false_positive_rate"]), _fmt(a["false_negative_rate"]), str(c["judge_only_correct"]), str(c["rule_only_correct"]),
            _fmt(j["error_rate"]), f"{j['requests_per_question']:.2f}",
        ])  # fmt: skip
    if not rows:
        return "no record was judged in mode `all`: nothing to calibrate"
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)
