"""Before a run loads its model: which tasks will be judged, and can the judge answer?

A judge that is down or misnamed would otherwise be discovered only after all generations are
done (hours, on real models). ``medbridge eval`` therefore checks the settings, the prompt
templates and the server (``GET /models``: reachable, key accepted, model served) first and
stops with one line. Failures during the run are still counted as judge errors, not fatal.
"""

from __future__ import annotations

from ..errors import ConfigError
from .prompts import MCQ_TEMPLATE, OPEN_TEMPLATE, load_prompt
from .settings import from_env, public_url
from .task_config import mcq_mode, template_for

OPEN_SOURCE = "vqa_open"


def judged_tasks(leaves: list[str], manager) -> dict[str, dict]:
    """``{task: {"mode", "template"}}`` for the tasks of this run that a judge will score."""
    from ..lmms.task_index import load_yaml, medbridge_source

    out = {}
    for task in leaves:
        path = manager.task_index[task]["yaml_path"]
        config = load_yaml(path)
        if medbridge_source(config) == OPEN_SOURCE:
            mode, template = "all", template_for(OPEN_TEMPLATE, task, path)
        else:
            mode, template = mcq_mode(task, path), template_for(MCQ_TEMPLATE, task, path)
        if mode == "off":
            continue
        prompt = load_prompt(template)
        if prompt.needs_image and not config.get("process_results_use_image"):
            raise ConfigError(f"judge template {prompt.name} sends the image, but task {task} scores without images", where=path, fix="add `process_results_use_image: true` to the task YAML")
        out[task] = {"mode": mode, "template": prompt.id}
    return out


def check_server(timeout: float = 10.0) -> None:
    """One ``GET /models``: the server answers, accepts the key and serves the model."""
    import openai
    from openai import OpenAI

    settings = from_env().require("this run")
    where = public_url(settings.base_url)
    client = OpenAI(base_url=settings.base_url, api_key=settings.api_key(), timeout=min(timeout, settings.timeout), max_retries=1)
    try:
        served = [m.id for m in client.models.list()]
    except openai.APIConnectionError as exc:
        kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "is unreachable"
        raise ConfigError(f"the judge server {kind}", where=where, fix="start it (e.g. `vllm serve Qwen/Qwen2.5-VL-32B-Instruct`) or fix --judge-url / MEDBRIDGE_JUDGE_BASE_URL") from None
    except openai.APIStatusError as exc:
        if exc.status_code in (401, 403):
            raise ConfigError(f"the judge server refused the API key (HTTP {exc.status_code})", where=where, fix=f"put the key in ${settings.api_key_env} (or name its variable with --judge-key-env)") from None
        return  # a server without /models: the requests will tell
    if served and settings.model not in served:
        raise ConfigError(f"the judge server does not serve {settings.model!r} (it serves {', '.join(served[:5])})", where=where, fix="pass the served name with --judge-model / MEDBRIDGE_JUDGE_MODEL")


def preflight(leaves: list[str], manager) -> dict[str, dict]:
    judged = judged_tasks(leaves, manager)
    if judged:
        from_env().require(f"judging {', '.join(sorted(judged))}")
        check_server()
    return judged
