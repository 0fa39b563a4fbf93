"""Hooks of control tasks: the ``_noimage`` variants ask the same questions with the image
withheld, so a leaderboard can show how much of a score needs the image at all (a model that
scores as well blind is answering from the text or from priors)."""

from __future__ import annotations


def no_image(doc) -> list:
    """``doc_to_visual`` that sends no image (the prompt text is unchanged)."""
    return []
