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


MEDMNIST_PROBE = """
import sys
from medbridge.harness.sources import medmnist
print(medmnist.class_names("breastmnist"), medmnist.resolve_root(None).name)
print("medmnist" in sys.modules, "sklearn" in sys.modules)
import medmnist as package  # the package itself still imports (and shares the table) afterwards
print(package.INFO["breastmnist"]["label"] == medmnist.info("breastmnist")["label"])
"""


def test_the_medmnist_table_is_read_without_importing_the_package_and_scikit_learn():
    env = {k: v for k, v in __import__("os").environ.items() if k != "MEDMNIST_ROOT"}
    out = subprocess.run([sys.executable, "-c", MEDMNIST_PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:3] == ["['malignant', 'normal, benign'] .medmnist", "False False", "True"]
