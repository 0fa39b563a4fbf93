"""Run ``medbridge`` CLI arguments in this process and write where the time went (JSON).

Used by ``benchmarks/eval_setup.py``; not a user command. The times of the model backend are
taken by wrapping ``MedbridgeHF`` when its module is first imported (an import hook), so this
file imports nothing heavy itself and the set-up it measures is the CLI's own:

- ``load_s``: inside ``MedbridgeHF.__init__`` (checkpoint checks, fingerprint) and its ``load``
  (model and processor, on the first question the cache cannot answer; older checkouts loaded
  them in ``__init__``);
- ``engine_s``: inside its engine calls (``sample``, ``greedy``), load excluded;
- ``generate_until_s``: inside ``generate_until`` (engine calls plus what the backend does per
  question: messages, chat template, cache look-ups), load excluded;
- ``end``: the wall-clock time the command returned, before the interpreter shuts down. The
  caller times the whole process (that is the wall time it reports); its end minus this is the
  interpreter's exit.

With ``MEDBRIDGE_BENCH_CAPTURE=FILE`` (an untimed run) it also writes, as a pickle, what the
backend handed its engine: the load arguments and, per question, the chat messages, images,
generation settings, seed and the samples that came back. ``_bare_engine.py`` replays them.

It runs the CLI as the ``medbridge`` executable does (``console_main``; plain ``main`` in older
checkouts, which is what the executable ran then), so a ``--baseline`` checkout of
``eval_setup.py`` is timed as its users ran it.

    python benchmarks/_timed_eval.py OUT.json eval --model ... --tasks ... --output ...
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
import time

TIMES = {"load_s": 0.0, "engine_s": 0.0, "generate_until_s": 0.0}
CAPTURE = {"load": None, "questions": []}
_TARGET = "medbridge.harness.backends.hf"


def _timer(key, fn):
    """Adds the seconds inside ``fn`` to ``key``, less any model load that ran inside it (the
    backend loads on the first question the cache cannot answer, i.e. inside ``generate_until``
    and possibly an engine call), so no second is counted twice."""

    def wrapped(*a, **kw):
        t, loaded = time.perf_counter(), TIMES["load_s"]
        try:
            return fn(*a, **kw)
        finally:
            TIMES[key] += time.perf_counter() - t - (TIMES["load_s"] - loaded if key != "load_s" else 0.0)

    return wrapped


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            cls = module.MedbridgeHF
            cls.__init__ = _timer("load_s", cls.__init__)
            if hasattr(cls, "load"):
                cls.load = _timer("load_s", cls.load)
            cls.sample = _timer("engine_s", cls.sample)
            cls.greedy = _timer("engine_s", cls.greedy)
            cls.generate_until = _timer("generate_until_s", cls.generate_until)
            if os.environ.get("MEDBRIDGE_BENCH_CAPTURE"):
                _capture(cls)

        spec.loader.exec_module = exec_module
        return spec


def _capture(cls) -> None:
    """Record the engine's inputs and outputs (HF samples one question per call, in order)."""
    chat_parts, sample, load = cls.chat_parts, cls.sample, cls.load

    def parts(messages):
        hf_messages, images = chat_parts(messages)
        CAPTURE["questions"].append({"messages": hf_messages, "images": images})
        return hf_messages, images

    def sampled(self, prepared, n, gen, seed, first=0):
        out = sample(self, prepared, n, gen, seed, first)
        CAPTURE["questions"][-1].update(n=n, gen=gen, seed=seed, first=first, samples=out)
        return out

    def loaded(self):
        sampler = load(self)
        CAPTURE["load"] = {**self._load_args, "device": str(self._device), "prefill_once": self._prefill_once, "row_seeds": self.prefix_stable}
        return sampler

    cls.chat_parts, cls.sample, cls.load = staticmethod(parts), sampled, loaded


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    sys.meta_path.insert(0, _Hook())
    import importlib

    cli_module = importlib.import_module("medbridge.harness.cli.main")
    cli = getattr(cli_module, "console_main", cli_module.main)

    rc = 1
    try:
        rc = cli(argv)
    finally:
        TIMES["end"] = time.time()
        TIMES["rc"] = rc
        with open(out, "w") as f:
            json.dump(TIMES, f)
        if os.environ.get("MEDBRIDGE_BENCH_CAPTURE"):
            import pickle

            with open(os.environ["MEDBRIDGE_BENCH_CAPTURE"], "wb") as f:
                pickle.dump(CAPTURE, f)
    return rc


if __name__ == "__main__":
    sys.exit(main())
