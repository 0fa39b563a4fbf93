"""lmms-eval imports Hugging Face ``evaluate`` at start-up; medbridge defers it to first use."""

import subprocess
import sys

PROBE = """
import inspect, sys
from medbridge.harness.lmms.evaluation import _defer_hf_evaluate
_defer_hf_evaluate()
import lmms_eval.api.registry as registry  # does `import evaluate as hf_evaluate`
inspect.getmodule(inspect)  # walks sys.modules with hasattr(module, "__file__"), as torch does
print(type(sys.modules["evaluate"]).__name__, "transformers.pipelines" in sys.modules)
print(callable(registry.hf_evaluate.load), type(sys.modules["evaluate"]).__name__)
from evaluate import load
import evaluate.loading
print(load is evaluate.loading.load)
"""


def test_evaluate_stays_unimported_through_a_sys_modules_walk_and_loads_on_first_use():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:3] == ["_DeferredImport False", "True module", "True"]
