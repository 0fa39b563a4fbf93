"""medbridge's lmms-eval task YAMLs (package data). A task is defined here and nowhere else."""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
