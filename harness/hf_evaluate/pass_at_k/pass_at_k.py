"""Unbiased pass@k as a Hugging Face ``evaluate`` metric, for use outside lmms-eval.

    import evaluate
    from medbridge.harness.hf_evaluate import PASS_AT_K
    metric = evaluate.load(PASS_AT_K)          # a local path: works offline
    metric.compute(predictions=[["A", "B", "A"], ["C", "C", "D"]], references=["A", "D"], k=[1, 2])

Each prediction is the list of n sampled answers for one question (already parsed, e.g. option
letters from ``medbridge.harness.answers.parse_answer``; use None for an unreadable answer),
each reference the gold answer. A sample is correct when it equals the reference. The
estimator is medbridge's own (``medbridge.harness.metrics.pass_at_k``), so numbers agree with
the lmms-eval tasks: NaN for any k larger than a question's n.
"""

import math

import datasets
import evaluate
from medbridge.harness.metrics import pass_at_k

_CITATION = """\
@article{chen2021codex,
  title={Evaluating Large Language Models Trained on Code},
  author={Chen, Mark and others},
  journal={arXiv preprint arXiv:2107.03374},
  year={2021}
}
"""

_DESCRIPTION = "Unbiased pass@k (Chen et al., 2021) over n sampled answers per question, in product form."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of lists of sampled answers (str or None), one list per question.
    references: list of gold answers (str), one per question.
    k: list of int, the k values to report (default [1, 2, 4, 8, 16]).
Returns:
    dict with "pass@k" for every k (mean over questions; NaN when some question has n < k)
    and "n_questions".
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PassAtK(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Value("string"),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2107.03374"],
        )

    def _compute(self, predictions, references, k=(1, 2, 4, 8, 16)):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} prediction lists for {len(references)} references")
        out = {"n_questions": len(references)}
        for kk in k:
            values = [pass_at_k(len(samples), sum(s is not None and s == ref for s in samples), kk) for samples, ref in zip(predictions, references)]
            out[f"pass@{kk}"] = sum(values) / len(values) if values else math.nan
        return out
