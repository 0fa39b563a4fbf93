"""Render the MCQ prompt from the single Jinja2 template under tasks/templates/.

The wording follows the paper's released evaluation (question, lettered options, reasoning in
<think></think>, ONLY the letter in <answer></answer>). Evaluation and RL training both render
through here, so the model is trained on exactly the prompt it is scored on.
"""

from __future__ import annotations

from functools import cache

import jinja2

from .answers import option_letters

DEFAULT_TEMPLATE = "mcq_prompt.jinja"


@cache
def _template(name: str) -> jinja2.Template:
    from medbridge.tasks import TASKS_DIR

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TASKS_DIR / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )
    return env.get_template(name)


def render_prompt(template: str, **context) -> str:
    """Any prompt template under tasks/templates/ (the open-ended tasks' prompt is one)."""
    return _template(template).render(**context).strip()


def render_mcq_prompt(question: str, options: list[str], template: str = DEFAULT_TEMPLATE) -> str:
    lettered = list(zip(option_letters(len(options)), options))
    return _template(template).render(question=question.strip(), options=lettered).strip()


def mcq_messages(question: str, options: list[str], n_images: int = 1, template: str = DEFAULT_TEMPLATE) -> list[dict]:
    """The user turn an MCQ is asked in, as Hugging Face chat messages: one image part per
    image, then the rendered prompt (the order lmms-eval's chat tasks build). Training renders
    its prompts here, so a model is trained on exactly the turn evaluation sends it."""
    parts = [{"type": "image"} for _ in range(n_images)]
    parts.append({"type": "text", "text": render_mcq_prompt(question, options, template=template)})
    return [{"role": "user", "content": parts}]
