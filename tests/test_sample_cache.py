"""The sample cache gives every run the samples and metrics of a fresh run, whatever ran
before it (other n, fresh runs), and a rerun on a full cache prepares nothing for the engine."""

import sqlite3

import pytest
from medbridge.harness.answers import grade
from medbridge.harness.metrics import question_scores
from test_backends import DOCS, SAMPLED, FakeBackend, make_requests, texts

OPTIONS = ["normal", "mass", "effusion", "nodule"]


class JointFakeBackend(FakeBackend):
    """An engine whose n samples are drawn together (like vLLM's or an API's ``n``): sample i
    depends on n, so the cache must key by n."""

    prefix_stable = False

    def sample(self, prepared, n, gen, seed, first=0):
        assert first == 0
        self.calls.append(("sample", prepared, n))
        return [(f"{prepared}:{seed % 1000}:{i}/{n}", 3) for i in range(n)]


def run(cls, n, cache=None, fresh=False, docs=(0, 1)):
    backend = cls(cache_path=cache, fresh=fresh) if cache else cls(cache=False)
    out = texts(backend.generate_until(make_requests([(d, n, SAMPLED) for d in docs])))
    return out, [c for c in backend.calls if c[0] == "sample"]


def rows(db):
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM samples").fetchone()[0]


@pytest.mark.parametrize("cls", [FakeBackend, JointFakeBackend])
def test_any_order_of_runs_with_different_n_gives_each_the_fresh_runs_samples(cls, tmp_path):
    db = tmp_path / "c.sqlite"
    for n, fresh in [(8, False), (16, False), (4, False), (8, True), (16, False), (8, False)]:
        got, _ = run(cls, n, cache=db, fresh=fresh)
        expected, _ = run(cls, n)
        assert got == expected, (n, fresh)


def test_prefix_stable_cache_generates_only_the_missing_samples_and_fresh_leaves_no_stale_rows(tmp_path):
    db = tmp_path / "c.sqlite"
    _, calls = run(FakeBackend, 8, cache=db)
    assert calls == [("sample", "question 0", 8), ("sample", "question 1", 8)]
    _, calls = run(FakeBackend, 16, cache=db)
    assert calls == [("sample", "question 0", 8, 8), ("sample", "question 1", 8, 8)]  # rows 8..15 only
    _, calls = run(FakeBackend, 4, cache=db)
    assert calls == [] and rows(db) == 32
    _, calls = run(FakeBackend, 4, cache=db, fresh=True)
    assert len(calls) == 2 and rows(db) == 8  # the old rows 4..15 are gone, not left to a later run
    _, calls = run(FakeBackend, 16, cache=db)
    assert calls == [("sample", "question 0", 12, 4), ("sample", "question 1", 12, 4)]


def test_keyed_by_n_backend_keeps_each_n_apart(tmp_path):
    db = tmp_path / "c.sqlite"
    run(JointFakeBackend, 8, cache=db)
    _, calls = run(JointFakeBackend, 16, cache=db)
    assert len(calls) == 2 and rows(db) == 2 * (8 + 16)
    _, calls = run(JointFakeBackend, 8, cache=db)
    assert calls == []


# ---- the transformers backend on the tiny checkpoint ----------------------------------


def hf(tiny_model, **kw):
    from medbridge.harness.backends.hf import MedbridgeHF

    backend = MedbridgeHF(pretrained=str(tiny_model), device="cpu", **kw)
    backend.task_dict = DOCS
    return backend


def scores(samples):
    graded = [grade(s, OPTIONS, "B") for s in samples]
    return question_scores([g.correct for g in graded], [g.parsed.letter is not None for g in graded])


def test_hf_samples_are_prefix_stable_so_a_cached_8_run_grows_into_the_fresh_16_run(tiny_model, tmp_path):
    backend = hf(tiny_model, cache=False)
    sixteen = texts(backend.generate_until(make_requests([(0, 16, SAMPLED)])))
    eight = texts(backend.generate_until(make_requests([(0, 8, SAMPLED)])))
    assert eight == sixteen[:8] and len(set(sixteen)) > 1
    one_generator = hf(tiny_model, cache=False, row_seeds=False)  # what generate does by itself
    assert (
        texts(one_generator.generate_until(make_requests([(0, 8, SAMPLED)])))
        != texts(one_generator.generate_until(make_requests([(0, 16, SAMPLED)])))[:8]
    )

    cached = hf(tiny_model, cache_path=tmp_path / "c.sqlite")
    assert texts(cached.generate_until(make_requests([(0, 8, SAMPLED)]))) == eight
    grown = texts(cached.generate_until(make_requests([(0, 16, SAMPLED)])))
    assert grown == sixteen and scores(grown) == scores(sixteen)
    assert cached.sample_cache.generated == 16  # 8, then the 8 missing ones


def test_hf_any_order_of_cached_runs_with_different_n_gives_each_the_fresh_runs_samples_and_metrics(tiny_model, tmp_path):
    docs = (0, 1, 2)

    def hf_run(n, **kw):
        backend = hf(tiny_model, **kw)
        out = texts(backend.generate_until(make_requests([(d, n, SAMPLED) for d in docs])))
        per_question = [out[i * n : (i + 1) * n] for i in range(len(docs))]
        return per_question, backend.sample_cache.generated if backend.sample_cache else None

    fresh = {n: hf_run(n, cache=False)[0] for n in (4, 8, 16)}  # what each n gives with no cache at all
    assert all(len(set(q)) > 1 for q in fresh[16])  # really sampled, not one repeated answer
    db = tmp_path / "c.sqlite"
    # (n, --fresh, samples generated per question): a larger n generates only the missing rows,
    # a smaller one none, and a fresh smaller run leaves no longer series for a later run to read
    for n, is_fresh, generated in [(8, False, 8), (16, False, 8), (8, False, 0), (4, True, 4), (16, False, 12), (8, False, 0)]:
        got, made = hf_run(n, cache_path=db, fresh=is_fresh)
        assert got == fresh[n], (n, is_fresh)
        assert [scores(q) for q in got] == [scores(q) for q in fresh[n]]
        assert made == generated * len(docs), (n, is_fresh)


def test_rerun_on_a_full_cache_applies_no_chat_template_and_says_how_many_came_from_it(tiny_model, tmp_path, capsys):
    spec = [(0, 4, SAMPLED), (1, 1, {"temperature": 0, "max_new_tokens": 8, "until": []})]
    first = hf(tiny_model, cache_path=tmp_path / "c.sqlite")
    a = texts(first.generate_until(make_requests(spec)))
    assert "0 of 2 questions from the sample cache" in capsys.readouterr().err
    second = hf(tiny_model, cache_path=tmp_path / "c.sqlite")
    templated = []
    second.chat_parts = lambda *args, **kw: templated.append(1)
    assert texts(second.generate_until(make_requests(spec))) == a and templated == []
    assert second.processor is None  # no processor was even loaded, so no chat template ran
    assert "2 of 2 questions from the sample cache (5 samples reused, 0 generated" in capsys.readouterr().err


def _open_both_at_once(cls_path, path, barrier, results):
    import importlib

    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    barrier.wait()  # both processes create the same new store at the same instant
    try:
        cls(path).close()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - the test reports what went wrong
        results.put(repr(exc))


@pytest.mark.parametrize("cls_path", ["medbridge.harness.backends.cache.SampleCache", "medbridge.harness.judge.cache.VerdictCache"])
def test_two_processes_creating_one_store_at_once_both_open_it(tmp_path, cls_path):
    """torchrun ranks open the shared cache together; before the retried set-up, one of two
    simultaneous opens of a new file failed with "database is locked" in 25 of 40 rounds."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    outcomes = []
    for round_ in range(12):
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_open_both_at_once, args=(cls_path, tmp_path / f"store{round_}.sqlite", barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcomes += [results.get(timeout=5) for _ in procs]
    assert outcomes == ["ok"] * 24
