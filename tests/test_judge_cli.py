"""The judge on the command line: flags, preflight before the model loads, `medbridge judge
check` and `medbridge judge calibrate`."""

from types import SimpleNamespace

import pytest
from judge_servers import CORRECT, INCORRECT, ScriptedJudge
from lb_records import measured
from medbridge.harness.cli.main import build_parser, main
from medbridge.harness.errors import ConfigError
from medbridge.harness.judge.preflight import check_server, judged_tasks
from medbridge.harness.lmms.discovery import tasks_dir


@pytest.fixture(autouse=True)
def no_judge_env(monkeypatch):
    for name in ("BASE_URL", "MODEL", "MODE", "API_KEY_ENV", "API_KEY"):
        monkeypatch.delenv(f"MEDBRIDGE_JUDGE_{name}", raising=False)


def manager(**paths):
    return SimpleNamespace(task_index={task: {"yaml_path": str(path)} for task, path in paths.items()})


def test_flags_become_the_judge_variables_of_the_run():
    from medbridge.harness.cli.judge_cmd import judge_env

    args = build_parser().parse_args(["eval", "--model", "m", "--tasks", "t", "--output", "o", "--judge-url", "http://j:8000/v1", "--judge-model", "Qwen/Qwen2.5-VL-32B-Instruct",
                                      "--judge-mode", "fallback", "--judge-key-env", "MY_KEY", "--judge-timeout", "5", "--judge-structured"])  # fmt: skip
    assert judge_env(args) == {
        "MEDBRIDGE_JUDGE_BASE_URL": "http://j:8000/v1", "MEDBRIDGE_JUDGE_MODEL": "Qwen/Qwen2.5-VL-32B-Instruct", "MEDBRIDGE_JUDGE_MODE": "fallback",
        "MEDBRIDGE_JUDGE_API_KEY_ENV": "MY_KEY", "MEDBRIDGE_JUDGE_TIMEOUT": "5", "MEDBRIDGE_JUDGE_STRUCTURED": "1",
    }  # fmt: skip
    assert judge_env(build_parser().parse_args(["eval", "--model", "m", "--tasks", "t", "--output", "o"])) == {}


def test_preflight_knows_which_tasks_are_judged_and_how(monkeypatch):
    tasks = manager(medmnist_breast=tasks_dir() / "medmnist" / "medmnist_breast.yaml", vqa_rad_open=tasks_dir() / "vqa_open" / "vqa_rad_open.yaml")
    judged = judged_tasks(["medmnist_breast", "vqa_rad_open"], tasks)
    assert list(judged) == ["vqa_rad_open"] and judged["vqa_rad_open"]["mode"] == "all"  # open tasks are always judged
    monkeypatch.setenv("MEDBRIDGE_JUDGE_MODE", "fallback")
    judged = judged_tasks(["medmnist_breast", "vqa_rad_open"], tasks)
    assert judged["medmnist_breast"]["mode"] == "fallback" and judged["medmnist_breast"]["template"].startswith("judge_mcq.jinja@")


def test_a_judge_template_that_sends_images_needs_them_in_scoring(tmp_path):
    (tmp_path / "img.jinja").write_text("{% set needs_image = true %}{{ question }} {{ answer }}")
    yaml = tmp_path / "t.yaml"
    yaml.write_text(f"include: {tasks_dir() / 'vqa_open' / 'vqa_rad_open.yaml'}\ntask: t_img\nmetadata:\n  judge_template: {tmp_path / 'img.jinja'}\n")
    with pytest.raises(ConfigError, match="sends the image, but task t_img scores without images.*process_results_use_image: true"):
        judged_tasks(["t_img"], manager(t_img=yaml))


def test_preflight_stops_on_a_missing_unreachable_refusing_or_misnamed_judge(monkeypatch):
    with pytest.raises(ConfigError, match="needs a judge, but MEDBRIDGE_JUDGE_BASE_URL and MEDBRIDGE_JUDGE_MODEL is not set"):
        check_server()
    monkeypatch.setenv("MEDBRIDGE_JUDGE_MODEL", "judge")
    monkeypatch.setenv("MEDBRIDGE_JUDGE_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match=r"the judge server is unreachable \(http://127.0.0.1:9/v1\)"):
        check_server(timeout=2)
    with ScriptedJudge(models=["Qwen/Qwen2.5-VL-32B-Instruct"]) as server:
        monkeypatch.setenv("MEDBRIDGE_JUDGE_BASE_URL", server.url)
        with pytest.raises(ConfigError, match="does not serve 'judge' \\(it serves Qwen/Qwen2.5-VL-32B-Instruct\\)"):
            check_server()
    with ScriptedJudge(models_status=401) as server:
        monkeypatch.setenv("MEDBRIDGE_JUDGE_BASE_URL", server.url)
        with pytest.raises(ConfigError, match=r"refused the API key \(HTTP 401\).*\$MEDBRIDGE_JUDGE_API_KEY"):
            check_server()
    with ScriptedJudge() as server:
        monkeypatch.setenv("MEDBRIDGE_JUDGE_BASE_URL", server.url)
        check_server()


def test_judge_check_asks_two_known_questions(capsys):
    def judge(body):
        return CORRECT if "<<<\nA. liver\n>>>" in body["messages"][0]["content"] else INCORRECT

    with ScriptedJudge(default=judge) as server:
        assert main(["judge", "check", "--judge-url", server.url, "--judge-model", "judge"]) == 0
    out = capsys.readouterr().out
    assert "answer 'A. liver': correct (expected correct)" in out and "answer 'B': incorrect (expected incorrect)" in out
    with ScriptedJudge(default="Verdict: correct") as server:
        assert main(["judge", "check", "--judge-url", server.url, "--judge-model", "judge"]) == 1
    assert "judge_error (off_format: 'Verdict: correct')" in capsys.readouterr().out


def test_calibrate_prints_the_agreement_table_from_records(tmp_path, capsys):
    from medbridge.harness.records import write_records
    from test_judge_records import judge_block

    record = measured("M", "pmc_vqa", {"acc@1": [1.0, 0.0], "no_answer_rate": [0.0, 0.0]})
    record["judge"] = judge_block()
    write_records([record], tmp_path / "out" / "records")
    assert main(["judge", "calibrate", "--records", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "kappa" in captured.out and "0.888" in captured.out and "pmc_vqa" in captured.out
    assert captured.err.startswith("medbridge: judge Qwen/Qwen2.5-VL-32B-Instruct (all) on 1 task(s)")
    assert main(["judge", "calibrate"]) == 2  # neither a run nor records
    assert "needs --model, --tasks and --output (or --records DIR)" in capsys.readouterr().err


def test_eval_with_an_unreachable_judge_stops_before_the_model_loads(tmp_path, tiny_model, sample_root, capsys, monkeypatch):
    from medbridge.harness.lmms import evaluation

    monkeypatch.setattr(evaluation, "backend_model_args", lambda *a, **k: pytest.fail("the model was about to be loaded"))
    code = main(["eval", "--model", str(tiny_model), "--tasks", "medmnist_breast", "--output", str(tmp_path / "out"), "--data-root", str(sample_root),
                 "--size", "28", "--judge-mode", "all", "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "judge"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("medbridge: error: the judge server is unreachable (http://127.0.0.1:9/v1); start it")
    assert not (tmp_path / "out" / "records").exists()


def test_eval_ends_with_the_judge_summary_and_exits_2_past_the_error_limit(monkeypatch, capsys):
    from medbridge.harness.cli import eval_cmd
    from test_judge_records import judge_block

    records = [measured("M", "pmc_vqa", {"acc@1": [1.0]}), measured("M", "slake_open", {"acc@1": [1.0]})]
    records[0]["judge"], records[1]["judge"] = judge_block(error_rate=0.0), judge_block(error_rate=0.2, kind="timeout")
    monkeypatch.setattr(eval_cmd, "evaluate_from_args", lambda args, judge=None: records)  # the evaluation itself is tested end to end
    assert main(["eval", "--model", "m", "--tasks", "pmc_vqa,slake_open", "--output", "out", "--judge-url", "http://j/v1", "--judge-model", "J"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2].startswith("medbridge: judge Qwen/Qwen2.5-VL-32B-Instruct (all) on 2 task(s): 80 requests")
    assert err[-1].startswith("medbridge: error: judge error rate above the 5% limit on slake_open 20.0% (timeout ×20)")
