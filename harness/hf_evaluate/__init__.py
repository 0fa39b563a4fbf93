"""Hugging Face ``evaluate`` metric modules shipped with medbridge (load them by path)."""

from pathlib import Path

PASS_AT_K = str(Path(__file__).resolve().parent / "pass_at_k")
