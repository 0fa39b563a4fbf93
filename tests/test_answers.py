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
        # <think> is reasoning: an <answer> inside it is a draft, never the answer
        ("<think>It is <answer>B</answer></think>", None, "in_think"),
        ("<think>d</think><answer>A</answer> <think><answer>B</answer></think>", "A", "ok"),
        ("<THINK>maybe <answer>C</answer></THINK><answer>A</answer>", "A", "ok"),
        ("<think>cut off while thinking <answer>B</answer>", None, "in_think"),  # unclosed think runs to the end
        ("prefilled reasoning <answer>B</answer></think><answer>A</answer>", "A", "ok"),  # template opened the think
        ("<think>a <think>b</think> <answer>C</answer></think><answer>D</answer>", "D", "ok"),  # nested
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


def test_format_answer_is_the_inverse_of_the_parser_for_every_letter():
    from medbridge.harness.answers import format_answer, letter_of_index

    options = [f"option {i}" for i in range(14)]
    for i in range(len(options)):
        letter = letter_of_index(i)
        completion = format_answer(letter, think="The lesion has smooth margins.")
        assert completion == f"<think>The lesion has smooth margins.</think><answer>{letter}</answer>"
        assert parse_answer(completion, options).letter == letter


def test_format_answer_refuses_what_would_change_the_grade():
    from medbridge.harness.answers import format_answer

    with pytest.raises(ValueError):
        format_answer("a")
    with pytest.raises(ValueError):
        format_answer("B", think="maybe <answer>C</answer>")


def test_letter_index_helpers_round_trip_and_refuse_bad_input():
    from medbridge.harness.answers import index_of_letter, letter_of_index, match_option_text

    assert [index_of_letter(letter_of_index(i)) for i in range(26)] == list(range(26))
    for bad in ("", "AB", "a", "1"):
        with pytest.raises(ValueError):
            index_of_letter(bad)
    with pytest.raises(ValueError):
        letter_of_index(26)
    assert match_option_text(" Normal,  Benign. ", OPTIONS) == "B"
    assert match_option_text("benign", OPTIONS) is None


def test_gold_letter_reads_a_letter_or_an_options_text_as_the_grader_matches_it():
    from medbridge.harness.answers import gold_letter, parse_answer

    assert gold_letter(" c ", OPTIONS) == "C"
    assert gold_letter("Normal,  benign.", OPTIONS) == "B"
    assert gold_letter("E", OPTIONS) is None  # a letter no option has
    assert gold_letter("benign", OPTIONS) is None  # a fragment is no option's text
    assert gold_letter("cyst", []) is None
    assert gold_letter("x", ["x", "X"]) is None  # two options with the same text: ambiguous
    # the key a source derives from option text is the letter the grader reads from that text
    assert parse_answer("<answer>Normal,  benign.</answer>", OPTIONS).letter == gold_letter("Normal,  benign.", OPTIONS)
