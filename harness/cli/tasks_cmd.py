"""``medbridge tasks path|list``: where medbridge's task YAMLs live, and their names."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("tasks", help="show medbridge's task folder or task names")
    p.add_argument("action", choices=["path", "list"], help="path: the folder to pass to --include_path; list: task and group names")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..plugin import tasks_dir

    if args.action == "path":
        print(tasks_dir())
        return 0
    from ..task_index import task_manager

    manager = task_manager()
    ours = str(tasks_dir())
    for name in manager.all_tasks:
        entry = manager.task_index[name]
        path = entry.get("yaml_path")
        if isinstance(path, str) and path.startswith(ours):
            print(f"{entry['type']:<6} {name}")
    return 0
