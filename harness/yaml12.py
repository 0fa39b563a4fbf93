"""YAML with YAML 1.2 scalars, for the configs users write (training configs, studies, recipes).

PyYAML follows YAML 1.1, where ``no`` / ``off`` are booleans (TRL's ``save_strategy: no`` would
become False) and ``1e-6`` without a dot is a string. Here only true/false are booleans and
``1e-6`` is a float. Shared by ``medbridge.training.config`` and ``harness.study``.
"""

from __future__ import annotations

import json
import re

import yaml


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and exponent floats."""


Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def load(text: str):
    return yaml.load(text, Loader=Loader)


def scalar_text(value) -> str:
    """A value as the text of a ``--set key=value`` override that :func:`load` reads back as
    the same value (``"no"`` stays a string, ``[a, b]`` a list)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
    if isinstance(value, str) and load(text) != value:  # a 1.1 string that 1.2 reads otherwise (`1e-6`)
        text = json.dumps(value)
    return text
