"""``medbridge recipe RECIPE.yaml``: diagnose support, bridge (SFT) while S_K < tau, then sharpen
(GRPO-CARE with the Pass@K guard), evaluate, leaderboard rows with lineage."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("recipe", help="the paper's boundary-aware recipe: diagnose -> bridge (SFT) while S_K < tau -> sharpen (GRPO-CARE, Pass@K guard)")
    p.add_argument("recipe", help="recipe YAML, e.g. studies/recipe_tiny.yaml")
    p.add_argument("--tau", type=float, default=None, help="support threshold on S_K = Pass@K (default: the file's, else 0.5)")
    p.add_argument("--k", type=int, default=None, help="K of S_K (default: the file's, else 16)")
    p.add_argument("--gap", type=float, default=None, help="sharpen only when S_K - A is at least this (default: the file's, else 0: whenever S_K >= tau)")
    p.add_argument("--root", default=None, help="leaderboard folder for the final rows (default: the file's `leaderboard`)")
    p.add_argument("--runs", default=None, help="folder of the stage folders (default: the file's `runs`)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..study.recipe import run_recipe

    run_recipe(args.recipe, root=args.root, runs=args.runs, tau=args.tau, k=args.k, gap=args.gap)
    return 0
