"""Jinja2 templates of the leaderboard pages, shipped as package data
(``medbridge.harness.leaderboard.templates``) so ``medbridge leaderboard build`` works outside a
checkout. A leaderboard folder with its own ``templates/`` uses those instead."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent
