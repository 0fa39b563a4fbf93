"""The lmms-eval adapter: task discovery (``discovery``), the task hooks lmms-eval calls
(``hooks``, ``open_hooks``, ``task_scoring``), the task index (``task_index``, ``task_files``)
and ``medbridge eval``'s run (``evaluation``, ``staging``). Only the harness imports it; the
training module uses the shared core (sources, prompt, answers, metrics, records) instead."""
