"""Leaderboards and support diagnosis from result records, usable from Python and the CLI.

    from medbridge.harness.leaderboard import add_output, build, check, diagnose, load_records

    add_output("out/", root="leaderboards", name="my-rl", parent="my-sft", stage="rl", trained_on=["organa"])
    build("leaderboards")            # regenerate pages and plots; returns the files that changed
    check("leaderboards")            # [] when up to date, else readable differences
    diagnose(load_records("leaderboards"), k=16, tau=0.5)

The record format is ``medbridge.harness.records`` (schema ``medbridge.record/1``).
"""

from .build import build, check, render
from .diagnose import Diagnosis, advise, diagnose, diagnosis_plot, diagnosis_table
from .ingest import add_output, collect, prepare
from .paper import paper_records, seed_paper
from .store import load_records, resolve_root, write_record

__all__ = [
    "Diagnosis",
    "add_output",
    "advise",
    "build",
    "check",
    "collect",
    "diagnose",
    "diagnosis_plot",
    "diagnosis_table",
    "load_records",
    "paper_records",
    "prepare",
    "render",
    "resolve_root",
    "seed_paper",
    "write_record",
]
