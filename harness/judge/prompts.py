"""Judge prompts: Jinja2 templates under ``tasks/templates/`` (files, so a prompt change is a
reviewed diff and changes the verdict cache key through the template's hash).

A template renders the one user message the judge gets. It may declare that the judge must see
the question's image(s) with a top-level ``{% set needs_image = true %}``; the shipped
templates do not (a reference-based verdict should not depend on the judge's own reading of
the image, and text-only requests are far cheaper). ``judge_reminder.jinja`` is the follow-up
sent once when a reply is off format.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
from jinja2 import nodes

from ..errors import ConfigError

MCQ_TEMPLATE = "judge_mcq.jinja"
OPEN_TEMPLATE = "judge_open.jinja"
REMINDER_TEMPLATE = "judge_reminder.jinja"


def templates_dir() -> Path:
    from medbridge.tasks import TASKS_DIR

    return TASKS_DIR / "templates"


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    source: str
    sha256: str
    needs_image: bool
    template: jinja2.Template

    @property
    def id(self) -> str:
        """``judge_mcq.jinja@<12 hex>``: what records and cache keys name."""
        return f"{self.name}@{self.sha256[:12]}"

    def render(self, **context) -> str:
        try:
            return self.template.render(**context).strip()
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"judge template {self.name} uses a variable the judge does not provide ({exc.message})", where=self.name) from exc


def _needs_image(ast) -> bool:
    for assign in ast.find_all(nodes.Assign):
        if isinstance(assign.target, nodes.Name) and assign.target.name == "needs_image":
            return isinstance(assign.node, nodes.Const) and assign.node.value is True
    return False


@cache
def load_prompt(name: str) -> JudgePrompt:
    """A template by file name (under tasks/templates/) or by path."""
    path = Path(name)
    if not path.is_absolute() and not path.is_file():
        path = templates_dir() / name
    if not path.is_file():
        shipped = sorted(p.name for p in templates_dir().glob("judge_*.jinja"))
        raise ConfigError(f"judge template {name!r} not found", where=str(path), fix=f"use a file path or one of: {', '.join(shipped)}")
    source = path.read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    try:
        ast = env.parse(source)
        template = env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"judge template has a syntax error on line {exc.lineno}: {exc.message}", where=str(path)) from exc
    digest = hashlib.sha256(source.encode()).hexdigest()
    return JudgePrompt(name=path.name, source=source, sha256=digest, needs_image=_needs_image(ast), template=template)
