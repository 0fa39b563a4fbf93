"""``medbridge tasks path|list``: where medbridge's task YAMLs live, and their names.

The list is read from the YAMLs directly (``task_files``), without importing lmms-eval or
indexing its ~2,000 built-in tasks: it prints in a fraction of a second."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("tasks", help="show medbridge's task folder or task names")
    p.add_argument("action", choices=["path", "list"], help="path: the folder to pass to --include_path; list: task and group names")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..lmms.discovery import tasks_dir

    if args.action == "path":
        print(tasks_dir())
        return 0
    from ..lmms.task_files import index_folder

    index = index_folder(tasks_dir())
    for name in sorted(index):
        entry = index[name]
        if isinstance(entry.get("yaml_path"), str):
            print(f"{entry['type']:<6} {name}")
    return 0
