"""Judge settings on the command line (``medbridge eval --judge-*``) and ``medbridge judge``:
``calibrate`` (agreement of a judge with the exact grade on any task) and ``check`` (is the
configured judge reachable and does it answer in the verdict format?)."""

from __future__ import annotations

import sys

from ..judge.settings import ENV, MODES

# flag -> (settings field, help)
FLAGS = {
    "--judge-url": ("base_url", "OpenAI-compatible judge server, e.g. http://localhost:8000/v1"),
    "--judge-model": ("model", "the judge's served model name, e.g. Qwen/Qwen2.5-VL-32B-Instruct"),
    "--judge-key-env": ("api_key_env", "NAME of the environment variable holding the judge's API key (default MEDBRIDGE_JUDGE_API_KEY; unset: a dummy key for local servers)"),
    "--judge-timeout": ("timeout", "seconds per judge request (default 60)"),
    "--judge-retries": ("max_retries", "retries after timeouts, dropped connections, 408/409/429 and 5xx (default 4)"),
    "--judge-concurrency": ("concurrency", "judge requests in flight at most (default 8)"),
    "--judge-max-error-rate": ("max_error_rate", "fail the run when a task's share of samples without a verdict passes this (default 0.05)"),
    "--judge-cache": ("cache", "verdict cache file, or `off` (default $MEDBRIDGE_CACHE/judge.sqlite)"),
}


def add_judge_arguments(p, mode: bool = True) -> None:
    group = p.add_argument_group("judge", "an OpenAI-compatible judge (same as the MEDBRIDGE_JUDGE_* variables)")
    if mode:
        group.add_argument("--judge-mode", choices=MODES, default=None, help="MCQ tasks: off (rules only), fallback (judge what the rules cannot read), all (judge every answer); default: each task's metadata.judge_mode, else off. Open-ended tasks are always judged.")
    for flag, (field, text) in FLAGS.items():
        group.add_argument(flag, default=None, dest="judge_" + field, help=text)
    group.add_argument("--judge-structured", action="store_true", default=None, help="also send a JSON-schema response_format (vLLM then guarantees the verdict format)")


def judge_env(args) -> dict[str, str]:
    """The ``MEDBRIDGE_JUDGE_*`` variables the given flags set."""
    env = {ENV[field]: str(getattr(args, "judge_" + field)) for field, _ in FLAGS.values() if getattr(args, "judge_" + field, None) is not None}
    if getattr(args, "judge_mode", None):
        env[ENV["mode"]] = args.judge_mode
    if getattr(args, "judge_structured", None):
        env[ENV["structured"]] = "1"
    return env


def add_parser(sub) -> None:
    from . import eval_cmd

    p = sub.add_parser("judge", help="LLM judge: calibrate against the exact grade, check the server")
    jsub = p.add_subparsers(dest="judge_command", required=True, metavar="SUBCOMMAND")
    cal = jsub.add_parser("calibrate", help="judge every answer of a task (mode all) and print the agreement with the rule grade (raw agreement, Cohen's kappa, FP/FN rates)")
    cal.add_argument("--records", default=None, help="print the table from existing records (a medbridge eval --output folder, a records folder or files) instead of running")
    eval_cmd.add_arguments(cal, required=False)
    add_judge_arguments(cal, mode=False)
    cal.set_defaults(func=calibrate)
    chk = jsub.add_parser("check", help="ask the configured judge one known question and show what it answers")
    add_judge_arguments(chk, mode=False)
    chk.set_defaults(func=check)


def calibrate(args) -> int:
    from ..errors import ConfigError
    from ..judge.report import calibration_table, judge_summary_line
    from ..leaderboard.store import load_records

    if args.records:
        records = load_records(args.records)
    else:
        if not (args.model and args.tasks and args.output):
            raise ConfigError("judge calibrate needs --model, --tasks and --output (or --records DIR)", fix="e.g. medbridge judge calibrate --model CKPT --tasks pmc_vqa --output out/ --judge-url ... --judge-model ...")
        from . import eval_cmd

        args.judge_mode = "all"
        records = eval_cmd.evaluate_from_args(args, judge=judge_env(args))
    print(calibration_table(records))
    line = judge_summary_line(records)
    if line:
        print(line, file=sys.stderr)
    return 0


def check(args) -> int:
    """One MCQ the judge must call correct and one it must call incorrect."""
    from ..host import environment
    from ..judge.settings import from_env

    with environment(judge_env(args)):
        from ..judge.client import JudgeClient, JudgeItem
        from ..judge.preflight import check_server
        from ..judge.prompts import MCQ_TEMPLATE, load_prompt

        check_server()
        client = JudgeClient(from_env(), cache=False)
        prompt = load_prompt(MCQ_TEMPLATE)
        context = {"question": "Which organ is shown?", "options": [("A", "liver"), ("B", "kidney")], "reference_letter": "A", "reference_text": "liver"}
        items = [JudgeItem(prompt, {**context, "answer": a}, {"check": a}) for a in ("A. liver", "B")]
        verdicts, usage = client.judge(items)
        client.close()
    expected = ["correct", "incorrect"]
    for item, verdict, want in zip(items, verdicts, expected):
        got = verdict.status if verdict.ok else f"judge_error ({verdict.error}{': ' + repr(verdict.reply) if verdict.reply else ''})"
        print(f"answer {item.context['answer']!r}: {got} (expected {want})")
    print(f"{usage.requests} requests, {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens")
    return 0 if [v.status for v in verdicts] == expected else 1
