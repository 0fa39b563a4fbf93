"""LLM judge: any OpenAI-compatible server scores MCQ completions (modes ``fallback`` / ``all``)
and open-ended answers, with strict JSON verdicts, a persistent verdict cache, deduplicated
requests, usage accounting, and judge failures counted (``judge_error``), never guessed.

Modules: ``settings`` (environment), ``prompts`` (Jinja2 templates), ``verdict`` (strict
parsing, what the judge sees), ``client`` (requests, retries, concurrency), ``cache``,
``task_config`` (a task's ``metadata.judge_mode``), ``hooks`` (lmms-eval scoring),
``agreement`` (kappa), ``report`` (records, run summary, limits), ``preflight``.
"""
