import pytest

from medbridge.harness.answers import grade, parse_answer

OPTIONS = ["malignant", "normal, benign", "cyst", "artifact"]


@pytest.mark.parametrize(
    "completion,letter,status",
    [
        ("<think>Irregular margins.</think><answer>A</answer>", "A", "ok"),
        ("<think>x</think>\n<answer> B </answer>", "B", "ok"),
        ("<answer>(C)</answer>", "C", "ok"),
        ("<answer>**D**</answer>", "D", "ok"),
        ("<answer>B.</answer>", "B", "ok"),
        ("<answer>A. malignant</answer>", "A", "ok"),
        ("<answer>B) normal, benign</answer>", "B", "ok"),
        ("<answer>Answer: C</answer>", "C", "ok"),
        ("<answer>Option D</answer>", "D", "ok"),
        ("<answer>The answer is B</answer>", "B", "ok"),
        ("<answer>a</answer>", "A", "ok"),
        ("<answer>Normal, Benign</answer>", "B", "ok"),  # exact option text
        ("<answer>A</answer> wait, <answer>C</answer>", "C", "ok"),  # last tag wins
        ("<think>long reasoning</think><answer>B", "B", "ok"),  # cut by the token limit
        ("<think>I think it is A.</think>", None, "no_tag"),  # letters outside the tag never count
        ("The answer is A", None, "no_tag"),
        ("", None, "no_tag"),
        ("<answer></answer>", None, "empty"),
        ("<answer>   </answer>", None, "empty"),
        ("<answer>E</answer>", None, "out_of_range"),  # only four options
        ("<answer>A or B</answer>", None, "unrecognised"),
        ("<answer>B. malignant</answer>", None, "unrecognised"),  # letter and text disagree
        ("<answer>probably a tumour</answer>", None, "unrecognised"),
        ("<answer>AB</answer>", None, "unrecognised"),
    ],
)
def test_parse_answer_reads_only_documented_forms(completion, letter, status):
    parsed = parse_answer(completion, OPTIONS)
    assert (parsed.letter, parsed.status) == (letter, status)


def test_grade_scores_unreadable_answers_wrong():
    assert grade("<answer>A</answer>", OPTIONS, "A").correct
    assert not grade("<answer>B</answer>", OPTIONS, "A").correct
    unreadable = grade("I believe A", OPTIONS, "A")
    assert not unreadable.correct and unreadable.parsed.letter is None


def test_parse_answer_rejects_an_empty_option_list():
    with pytest.raises(ValueError):
        parse_answer("<answer>A</answer>", [])
