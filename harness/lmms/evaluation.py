"""``medbridge eval`` as a library call: lmms-eval's Python API plus records and real errors.

lmms-eval's CLI prints "Error during evaluation" and exits 0; here every failure raises, the
CLI turns it into a non-zero exit, and records are written only once every task has results.
"""

from __future__ import annotations

import os
import types
from contextlib import nullcontext
from pathlib import Path

from ..atomic_write import write_json_atomic
from ..errors import MedbridgeError, first_line
from ..fingerprint import check_checkpoint, checkpoint_fingerprint, looks_like_path
from ..host import default_device, environment
from ..judge.preflight import preflight as judge_preflight
from ..outputs import check_writable_folder
from ..records import apply_run_card, attach_per_doc, build_records, read_run_card, write_records
from .staging import StagedOutput
from .task_index import check_tasks, load_yaml, local_tasks, medbridge_source, task_manager

DEFAULT_BACKEND = "medbridge_hf"


class EvaluationFailed(MedbridgeError):
    """lmms-eval raised while evaluating."""


def _unwrap(exc: BaseException) -> BaseException:
    """lmms-eval retries dataset loading with tenacity; surface the error it gave up on."""
    try:
        from tenacity import RetryError
    except ImportError:  # pragma: no cover
        return exc
    while isinstance(exc, RetryError) and exc.last_attempt.exception() is not None:
        exc = exc.last_attempt.exception()
    cause = exc
    while cause is not None:
        if isinstance(cause, MedbridgeError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return exc


def vqa_env(data: dict[str, str] | None) -> dict[str, str]:
    """``--data NAME=PATH`` (VQA benchmarks and MedMNIST datasets) as the variables the sources read."""
    from ..sources.data_paths import data_env

    return data_env(data)


def backend_model_args(backend: str, model: str, device: str, extra: str | None, seed: int = 0, cache: bool = True, fresh: bool = False) -> str:
    """model_args for lmms-eval. medbridge's backends get the seed and cache switches; the
    device travels separately (lmms-eval passes ``--device`` to every model)."""
    if backend.startswith("medbridge_"):
        args = [f"{'model' if backend == 'medbridge_openai' else 'pretrained'}={model}", f"seed={seed}"]
        if not cache:
            args.append("cache=off")
        if fresh:
            args.append("fresh=true")
    else:
        args = [f"pretrained={model}"]
        if backend in ("qwen2_5_vl", "qwen2_vl") and device == "cpu" and "device_map=" not in (extra or ""):
            args.append("device_map=cpu")  # lmms-eval's Qwen backends default to CUDA
    if extra:
        args.append(extra)
    return ",".join(args)


def preflight_data(configs: dict[str, dict]) -> dict[str, dict]:
    """Check local data for medbridge-sourced tasks (``{task: its YAML config}``) before the
    model is loaded, and describe it for the records (MedMNIST settings; VQA location,
    protocol and conversion counts)."""
    from ..sources import medmnist, vqa

    described = {}
    for task, config in configs.items():
        source, name, split = medbridge_source(config), config.get("dataset_name", ""), config.get("test_split", "test")
        if source == "medmnist":
            path = medmnist.check_available(name, split=split)
            described[task] = {
                "source": "medmnist",
                "file": str(path),
                "split": split,
                "size": medmnist.image_size(name),
                "per_class": medmnist.resolve_per_class(),
                "subset_seed": medmnist.SUBSET_SEED,
                "protocol": "balanced subset (min class count per class)" if medmnist.resolve_per_class() is None else f"balanced subset, at most {medmnist.resolve_per_class()} per class",
            }
        elif source == "vqa_open":
            from ..sources.vqa_open import open_items

            location = vqa.locate(name)
            described[task] = {"source": "vqa_open", "benchmark": name, "where": location.describe(), "split": split}
            if location.kind != "hub":
                described[task].update(open_items(name, split, location)[1])
        elif source == "vqa":
            location = vqa.locate(name)
            if location.kind == "hub":
                described[task] = {"source": "vqa", "benchmark": name, "where": location.describe(), "split": split, "source_split": "+".join(vqa.source_splits(name, split))}
                continue
            _, report = vqa.mcq_items(name, split, location)
            described[task] = {"source": "vqa", "benchmark": name, "where": location.describe(), "split": split, **report.as_dict()}
    return described


def check_records(records: list[dict]) -> None:
    """Refuse records no reader could use. lmms-eval reports a key that process_results returns
    but metric_list lacks as ``"key,filter": []`` (no aggregation ran), which would be written
    as a metric whose value is a list."""
    from ..records import validate_record

    for record in records:
        task = record["task"]["name"]
        for name, metric in record["metrics"].items():
            value = metric["value"]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise EvaluationFailed(
                    f"{task}: metric {name!r} has no aggregate value (lmms-eval reported {str(value)[:40]})",
                    fix="its process_results returns a key that the task's metric_list lacks: list it there with an aggregation, or stop returning it",
                )
        validate_record(record, where=f"record of task {task}")


class _DeferredImport(types.ModuleType):
    """Stands in ``sys.modules`` for a module until something reads one of its names.

    The standard library's LazyLoader is not enough here: torch registers fake ops while the
    model loads and walks ``sys.modules`` through ``inspect.getmodule``, whose
    ``hasattr(module, "__file__")`` makes a LazyLoader module execute. This stand-in answers
    ``__file__`` and other dunder probes itself and imports the real module on the first other
    name (``__path__`` included, so ``import evaluate.x`` still works)."""

    def __init__(self, spec):
        super().__init__(spec.name)
        self.__spec__, self.__file__, self.__loader__ = spec, spec.origin, spec.loader

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__") and name not in ("__path__", "__all__"):
            raise AttributeError(name)
        import importlib
        import sys

        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, name)


def _defer_hf_evaluate() -> None:
    """lmms-eval imports Hugging Face ``evaluate`` at start-up (about 4 s: it pulls in
    transformers' pipelines) but uses it only for tasks whose metrics name an ``evaluate``
    metric, so it is imported on first use instead."""
    import importlib.util
    import sys

    if "evaluate" in sys.modules:
        return
    spec = importlib.util.find_spec("evaluate")
    if spec is None or spec.loader is None:
        return
    sys.modules["evaluate"] = _DeferredImport(spec)


def evaluate(
    model: str,
    tasks: list[str],
    output: str | os.PathLike,
    *,
    backend: str = DEFAULT_BACKEND,
    model_args: str | None = None,
    gen_kwargs: str | None = None,
    limit: int | float | None = None,
    device: str | None = None,
    batch_size: int = 1,
    data_root: str | None = None,
    size: int | None = None,
    per_class: int | None = None,
    seed: int = 0,
    cache: bool = True,
    fresh: bool = False,
    include_path: list[str] | None = None,
    data: dict[str, str] | None = None,
    judge: dict[str, str] | None = None,
) -> list[dict]:
    """Evaluate ``model`` on ``tasks`` through lmms-eval; write lmms-eval's results and samples
    under ``output/lmms_eval`` and one record per task under ``output/records``; return them.
    ``data`` maps VQA benchmark names to local copies (same as ``MEDBRIDGE_DATA_<NAME>``);
    ``judge`` holds judge settings as ``MEDBRIDGE_JUDGE_*`` variables for this run.

    Order matters for the user's time: the checkpoint, the output folder, the task names and
    the data are checked before lmms-eval (and torch) is imported; the files appear in
    ``output`` only when the run is complete (:mod:`staging`)."""
    output = Path(output)
    # a served model (OpenAI-compatible API) is a name at an address, not a checkpoint here
    model_ref = model if backend == "medbridge_openai" else check_checkpoint(model)
    # torchrun: every rank evaluates its share; rank 0 alone writes
    writer = int(os.environ.get("RANK", "0")) == 0
    env = environment({"MEDMNIST_ROOT": data_root, "MEDMNIST_SIZE": size, "MEDMNIST_PER_CLASS": per_class, **vqa_env(data), **(judge or {})})
    with env:
        if writer:
            check_writable_folder(output)  # a real write, nothing left behind: the folder appears only once the run starts
        local = local_tasks(tasks, include_path)
        if local is not None:  # medbridge's (or the user's) tasks only: data checked before lmms-eval loads
            described = preflight_data(local)
        _defer_hf_evaluate()
        manager = task_manager(include_path, local=local is not None)
        leaves = check_tasks(tasks, manager)
        if local is None:
            described = preflight_data({t: load_yaml(manager.task_index[t]["yaml_path"]) for t in leaves})
        judge_preflight(leaves, manager)  # settings, prompts, server: before the model loads
        with (StagedOutput(output) if writer else nullcontext()) as stage:  # locked; files appear together
            from lmms_eval.loggers import EvaluationTracker

            # lmms-eval's files go to the staging folder (a stand-in path on ranks that write nothing)
            tracker = EvaluationTracker(output_path=str((stage.root if stage else output) / "lmms_eval"))
            results, margs = _run_lmms_eval(backend, model_ref, tasks, manager, tracker, model_args=model_args, gen_kwargs=gen_kwargs,
                                            limit=limit, device=device, batch_size=batch_size, seed=seed, cache=cache, fresh=fresh)
            if results is None:  # non-zero ranks in a distributed run
                return []
            missing = [t for t in leaves if t not in results.get("results", {})]
            if missing:
                raise EvaluationFailed(f"no results for {', '.join(missing)}", fix="rerun with --debug and check the lmms-eval log")
            samples = results.pop("samples", {})
            records = build_records(
                results,
                model=model,
                fingerprint=f"served:{model}" if backend == "medbridge_openai" else checkpoint_fingerprint(model_ref),
                backend=backend,
                model_args=margs,
                data=described,
            )
            # a checkpoint from `medbridge train` carries its lineage (name, parent, stage, trained-on)
            apply_run_card(records, read_run_card(model_ref) if backend != "medbridge_openai" and looks_like_path(model_ref) else None)
            check_records(records)  # before anything is written, even to the stage
            attach_per_doc(records, samples)  # per-question scores for intervals and paired tests
            tracker.save_results_aggregated(results=results, samples=samples, datetime_str=results.get("date"))
            for task in leaves:
                tracker.save_results_samples(task_name=task, samples=samples[task])
            write_records(records, stage.root / "records")
            write_json_atomic(stage.root / "groups.json", results.get("groups", {}))
            stage.commit()
    return records


def _distributed_executor() -> str:
    """As lmms-eval's CLI does: under torchrun / accelerate launch (WORLD_SIZE > 1) start the
    process group through accelerate first; then lmms-eval gathers with torch.distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            from accelerate import Accelerator

            Accelerator()
        return "torchrun" if dist.is_initialized() else "accelerate"
    return "accelerate"


def _run_lmms_eval(
    backend, model_ref, tasks, manager, tracker, *, model_args, gen_kwargs, limit, device, batch_size, seed, cache, fresh
) -> tuple[dict | None, str]:
    from lmms_eval.evaluator import simple_evaluate

    device = device or default_device()
    executor = _distributed_executor()
    margs = backend_model_args(backend, model_ref, device, model_args, seed=seed, cache=cache, fresh=fresh)
    try:
        results = simple_evaluate(
            model=backend,
            model_args=margs,
            tasks=tasks,
            batch_size=batch_size,
            device=device,
            limit=limit,
            gen_kwargs=gen_kwargs,
            task_manager=manager,
            log_samples=True,
            evaluation_tracker=tracker,
            distributed_executor_backend=executor,
            random_seed=seed,
            numpy_random_seed=1234 + seed,
            torch_random_seed=1234 + seed,
            fewshot_random_seed=1234 + seed,
            verbosity="WARNING",
        )
    except MedbridgeError:
        raise
    except Exception as exc:
        cause = _unwrap(exc)
        if isinstance(cause, MedbridgeError):
            raise cause from exc
        raise EvaluationFailed(
            f"lmms-eval failed: {type(cause).__name__}: {first_line(cause)}", fix="rerun with --debug for the traceback"
        ) from exc
    return results, margs
