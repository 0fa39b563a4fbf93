"""medbridge backends: K-clone grouping, per-question seeding, cache, vLLM/OpenAI mappings."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from lmms_eval.api.instance import Instance
from medbridge.harness.backends.base import KSampleBackend, group_clones, question_seed
from medbridge.harness.errors import ConfigError
from PIL import Image


def messages_for(doc):
    return [{"role": "user", "content": [{"type": "image", "url": doc["image"]}, {"type": "text", "text": doc["q"]}]}]


def make_requests(spec, task="t"):
    """spec: [(doc_id, k, gen_kwargs)] -> lmms-eval's request list, each Instance repeated k times."""
    out = []
    for doc_id, k, gen in spec:
        inst = Instance("generate_until", ("ctx", messages_for, gen, doc_id, task, "test"), idx=0, metadata={"task": task, "doc_id": doc_id, "repeats": k})
        out.extend([inst] * k)
    return out


def mcq(i):
    from medbridge.harness.prompt import render_mcq_prompt

    return render_mcq_prompt(f"question {i}: which finding?", ["normal", "mass", "effusion", "nodule"])


DOCS = {"t": {"test": [{"image": Image.new("RGB", (8, 8), (i, i, i)), "q": mcq(i)} for i in range(6)]}}
SAMPLED = {"temperature": 0.7, "top_p": 0.9, "top_k": 0, "max_new_tokens": 24, "until": []}
GREEDY = {"temperature": 0, "max_new_tokens": 8, "until": []}


class FakeBackend(KSampleBackend):
    """An engine that answers ``<doc>:<seed>:<i>`` so the mapping is visible (sample i depends
    only on the question's seed and i: prefix-stable)."""

    sample_batch_size = 2
    prefix_stable = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.task_dict = DOCS
        self.calls = []
        self.fingerprint = "fake"

    def prepare(self, messages):
        self.calls.append(("prepare",))
        return messages[0]["content"][1]["text"].split(":")[0]  # "question <i>"

    def sample(self, prepared, n, gen, seed, first=0):
        self.calls.append(("sample", prepared, n) if not first else ("sample", prepared, n, first))
        return [(f"{prepared}:{seed % 1000}:{i}", 3) for i in range(first, first + n)]

    def greedy(self, prepared, gen):
        self.calls.append(("greedy", tuple(prepared)))
        return [(f"{p}:greedy", 2) for p in prepared]


def texts(results):
    return [r.text for r in results]


def test_clones_are_grouped_in_order_none_lost_or_duplicated():
    reqs = make_requests([(0, 4, SAMPLED), (1, 1, GREEDY), (2, 4, SAMPLED)])
    groups = group_clones(reqs)
    assert [(g.doc_id, g.positions) for g in groups] == [(0, [0, 1, 2, 3]), (1, [4]), (2, [5, 6, 7, 8])]
    assert sorted(p for g in groups for p in g.positions) == list(range(len(reqs)))


def test_each_question_gets_its_k_samples_in_order_with_one_engine_call(tmp_path):
    backend = FakeBackend(cache=False, batch_size=2)
    reqs = make_requests([(0, 4, SAMPLED), (1, 1, GREEDY), (3, 1, GREEDY), (2, 4, SAMPLED), (4, 3, GREEDY)])
    out = texts(backend.generate_until(reqs))
    s0, s2 = question_seed(0, "t", "test", 0) % 1000, question_seed(0, "t", "test", 2) % 1000
    assert out[:4] == [f"question 0:{s0}:{i}" for i in range(4)]
    assert out[4:6] == ["question 1:greedy", "question 3:greedy"]
    assert out[6:10] == [f"question 2:{s2}:{i}" for i in range(4)]
    assert out[10:] == ["question 4:greedy"] * 3  # greedy clones: generated once
    assert ("sample", "question 0", 4) in backend.calls and ("sample", "question 2", 4) in backend.calls
    assert ("greedy", ("question 1", "question 3")) in backend.calls  # greedy batched across questions
    assert len([c for c in backend.calls if c[0] == "sample"]) == 2 and len([c for c in backend.calls if c[0] == "prepare"]) == 5


def test_cache_serves_a_rerun_without_calling_the_engine(tmp_path):
    spec = [(0, 4, SAMPLED), (1, 1, GREEDY)]
    first = FakeBackend(cache_path=tmp_path / "c.sqlite")
    a = texts(first.generate_until(make_requests(spec)))
    second = FakeBackend(cache_path=tmp_path / "c.sqlite")
    b = texts(second.generate_until(make_requests(spec)))
    assert a == b and second.calls == [] and second.sample_cache.hits == 5  # not even a chat template
    fresh = FakeBackend(cache_path=tmp_path / "c.sqlite", fresh=True)
    fresh.generate_until(make_requests(spec))
    assert len([c for c in fresh.calls if c[0] != "prepare"]) == 2 and fresh.sample_cache.count() == 5  # overwritten, not duplicated


def test_question_seed_depends_only_on_the_question():
    assert question_seed(0, "t", "test", 5) == question_seed(0, "t", "test", 5)
    assert len({question_seed(0, "t", "test", i) for i in range(100)}) == 100
    assert question_seed(1, "t", "test", 5) != question_seed(0, "t", "test", 5)


# ---- the real transformers backend on the tiny checkpoint ---------------------------------


@pytest.fixture(scope="module")
def hf_backend(tiny_model, tmp_path_factory):
    from medbridge.harness.backends.hf import MedbridgeHF

    backend = MedbridgeHF(pretrained=str(tiny_model), device="cpu", cache=False)
    backend.task_dict = DOCS
    return backend


def test_hf_backend_same_seed_same_samples_and_k_distinct_samples(hf_backend, tiny_model):
    from medbridge.harness.backends.hf import MedbridgeHF

    spec = [(0, 8, SAMPLED), (1, 8, SAMPLED)]
    a = texts(hf_backend.generate_until(make_requests(spec)))
    b = texts(hf_backend.generate_until(make_requests(list(reversed(spec)))))
    assert a == b[8:] + b[:8]  # order of questions does not change a question's samples
    assert len(set(a[:8])) > 1  # sampling, not 8 copies
    other = MedbridgeHF(pretrained=str(tiny_model), device="cpu", cache=False, seed=1)
    other.task_dict = DOCS
    assert texts(other.generate_until(make_requests(spec))) != a


def test_hf_backend_passes_top_k_so_a_top_k_1_generation_config_cannot_collapse_sampling(tiny_model, tmp_path):
    import shutil

    from medbridge.harness.backends.hf import MedbridgeHF

    ckpt = tmp_path / "topk1"
    shutil.copytree(tiny_model, ckpt)
    config = json.loads((ckpt / "generation_config.json").read_text())
    (ckpt / "generation_config.json").write_text(json.dumps({**config, "top_k": 1}))  # as Qwen ships
    backend = MedbridgeHF(pretrained=str(ckpt), device="cpu", cache=False)
    backend.task_dict = DOCS
    out = texts(backend.generate_until(make_requests([(0, 8, SAMPLED)])))
    assert len(set(out)) > 1


def test_hf_backend_clean_frees_the_model_the_sampler_also_held(tiny_model):
    """lmms-eval calls clean() before its judge step; its own version left the model alive in
    the sampler."""
    import weakref

    from medbridge.harness.backends.hf import MedbridgeHF

    backend = MedbridgeHF(pretrained=str(tiny_model), device="cpu", cache=False)
    backend.task_dict = DOCS
    assert len(texts(backend.generate_until(make_requests([(0, 2, SAMPLED), (1, 1, GREEDY)])))) == 3
    model = weakref.ref(backend.model)
    backend.clean()
    assert model() is None and backend.sampler is None


def test_hf_backend_rerun_on_a_full_cache_loads_no_model(tiny_model, tmp_path):
    from medbridge.harness.backends.hf import MedbridgeHF

    spec = [(0, 4, SAMPLED), (1, 1, GREEDY)]
    first = MedbridgeHF(pretrained=str(tiny_model), device="cpu", cache_path=str(tmp_path / "c.sqlite"))
    first.task_dict = DOCS
    answers = texts(first.generate_until(make_requests(spec)))
    rerun = MedbridgeHF(pretrained=str(tiny_model), device="cpu", cache_path=str(tmp_path / "c.sqlite"))
    rerun.task_dict = DOCS
    assert texts(rerun.generate_until(make_requests(spec))) == answers
    assert rerun.model is None and rerun.sampler is None  # every answer came from the cache
    more = texts(rerun.generate_until(make_requests([(0, 6, SAMPLED)])))  # two samples the cache lacks
    assert rerun.model is not None and more[:4] == answers[:4] and len(set(more)) > 1


def test_hf_backend_text_only_checkpoint_fails_at_its_first_question_naming_it(tiny_model, tmp_path):
    import shutil

    from medbridge.harness.backends.hf import MedbridgeHF
    from medbridge.harness.errors import CheckpointError

    ckpt = tmp_path / "text-only"
    shutil.copytree(tiny_model, ckpt)
    text = json.loads((ckpt / "config.json").read_text())["text_config"]
    (ckpt / "config.json").write_text(json.dumps({**text, "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}))
    backend = MedbridgeHF(pretrained=str(ckpt), device="cpu", cache=False)
    backend.task_dict = DOCS
    with pytest.raises(CheckpointError, match="text-only is not an image-text-to-text model"):
        backend.generate_until(make_requests([(0, 2, SAMPLED)]))


@pytest.mark.parametrize("row_seeds", [True, False])
def test_sampling_leaves_the_callers_random_stream_where_it_was(tiny_model, row_seeds):
    """Training's Pass@K monitor samples between optimizer steps: seeding the global generator
    per question must not reset the trainer's stream (its rollouts would repeat after each
    monitor pass), while the samples stay those of the question's seed."""
    import torch
    from medbridge.harness.backends.hf import MedbridgeHF

    backend = MedbridgeHF(pretrained=str(tiny_model), device="cpu", cache=False, row_seeds=row_seeds)
    backend.task_dict = DOCS
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    first = texts(backend.generate_until(make_requests([(0, 4, SAMPLED)])))
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(99)  # another caller state: the same samples
    assert texts(backend.generate_until(make_requests([(0, 4, SAMPLED)]))) == first


def test_hf_backend_greedy_batch_equals_one_by_one(hf_backend):
    spec = [(i, 1, GREEDY) for i in range(4)]
    hf_backend.batch_size = 4
    batched = texts(hf_backend.generate_until(make_requests(spec)))
    hf_backend.batch_size = 1
    single = texts(hf_backend.generate_until(make_requests(spec)))
    assert batched == single


# ---- vLLM: request/response mapping with the engine passed in -----------------------------


class FakeParams(dict):
    def __init__(self, **kw):
        super().__init__(kw)


class FakeCompletion:
    def __init__(self, text):
        self.text, self.token_ids = text, list(range(len(text.split())))


class FakeVLLM:
    def __init__(self):
        self.calls = []

    def generate(self, prompts, params, use_tqdm=False):
        params = params if isinstance(params, list) else [params] * len(prompts)
        self.calls.append((prompts, params))
        out = []
        for prompt, p in zip(prompts, params):
            tag = prompt["prompt"].split("question ")[-1].split(":")[0]
            out.append(type("Out", (), {"outputs": [FakeCompletion(f"q{tag} s{j} seed{p.get('seed')}") for j in range(p["n"])]}))
        return out


def test_vllm_backend_sends_one_request_per_question_with_n_and_maps_back(tiny_model):
    from medbridge.harness.backends.vllm_backend import MedbridgeVLLM
    from transformers import AutoProcessor

    engine = FakeVLLM()
    backend = MedbridgeVLLM(pretrained=str(tiny_model), engine=engine, processor=AutoProcessor.from_pretrained(tiny_model), sampling_params=FakeParams, cache=False, batch_size=8)
    backend.task_dict = DOCS
    out = texts(backend.generate_until(make_requests([(0, 4, SAMPLED), (1, 4, SAMPLED), (2, 1, GREEDY)])))
    prompts, params = engine.calls[0]
    assert len(prompts) == 2 and [p["n"] for p in params] == [4, 4] and params[0]["top_k"] == -1 and params[0]["max_tokens"] == 24
    assert params[0]["seed"] != params[1]["seed"]
    assert isinstance(prompts[0]["multi_modal_data"]["image"], Image.Image)
    assert out[:4] == [f"q0 s{j} seed{params[0]['seed']}" for j in range(4)] and out[4].startswith("q1 s0")
    assert engine.calls[1][1][0]["temperature"] == 0.0 and out[8].startswith("q2 s0")


def test_vllm_backend_starts_its_engine_only_for_a_question_the_cache_cannot_answer(tiny_model, tmp_path, monkeypatch):
    import importlib.machinery
    import types

    from medbridge.harness.backends.vllm_backend import MedbridgeVLLM

    started = []

    class LLM(FakeVLLM):  # what vllm.LLM(**engine args) gives: here the fake engine, counted
        def __init__(self, **kwargs):
            super().__init__()
            started.append(kwargs)

    fake = types.ModuleType("vllm")
    fake.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    fake.LLM, fake.SamplingParams = LLM, FakeParams
    monkeypatch.setitem(sys.modules, "vllm", fake)

    def backend():
        b = MedbridgeVLLM(pretrained=str(tiny_model), cache_path=str(tmp_path / "c.sqlite"))
        b.task_dict = DOCS
        return b

    first = backend()
    assert started == [] and first.engine is None and first.processor is None
    answers = texts(first.generate_until(make_requests([(0, 4, SAMPLED)])))
    assert len(started) == 1 and started[0]["model"] == str(Path(tiny_model).resolve())
    rerun = backend()
    assert texts(rerun.generate_until(make_requests([(0, 4, SAMPLED)]))) == answers
    assert len(started) == 1 and rerun.engine is None and rerun.processor is None  # all from the cache


def test_vllm_backend_without_vllm_says_how_to_install(tiny_model):
    pytest.importorskip("transformers")
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    from medbridge.harness.backends.vllm_backend import MedbridgeVLLM

    with pytest.raises(ConfigError, match=r'pip install "medbridge\[vllm\]"'):
        MedbridgeVLLM(pretrained=str(tiny_model), cache=False)


# ---- OpenAI-compatible server on loopback -------------------------------------------------


class ChatHandler(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatHandler.requests.append(body)
        n = body.get("n", 1)
        reply = {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": f"<answer>{'AB'[i % 2]}</answer>"}} for i in range(n)],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3 * n, "total_tokens": 10 + 3 * n},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = HTTPServer(("127.0.0.1", 0), ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ChatHandler.requests = []
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_openai_backend_asks_for_k_samples_in_one_request(chat_server):
    from medbridge.harness.backends.openai_backend import MedbridgeOpenAI

    backend = MedbridgeOpenAI(model="served", base_url=chat_server, cache=False, max_retries=0)
    backend.task_dict = DOCS
    out = texts(backend.generate_until(make_requests([(0, 4, SAMPLED), (1, 1, GREEDY)])))
    assert out == ["<answer>A</answer>", "<answer>B</answer>"] * 2 + ["<answer>A</answer>"]
    first, second = ChatHandler.requests
    assert first["n"] == 4 and first["temperature"] == 0.7 and first["top_p"] == 0.9 and "seed" in first
    assert first["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert second["n"] == 1 and second["temperature"] == 0.0


def test_openai_backend_unreachable_server_is_a_clear_error():
    from medbridge.harness.backends.openai_backend import MedbridgeOpenAI

    backend = MedbridgeOpenAI(model="served", base_url="http://127.0.0.1:9/v1", cache=False, max_retries=0, timeout=2)
    backend.task_dict = DOCS
    with pytest.raises(ConfigError, match="the OpenAI-compatible server failed"):
        backend.generate_until(make_requests([(0, 2, SAMPLED)]))


@pytest.mark.parametrize("arch", ["qwen2_vl", "qwen3_vl", "llava"])
def test_hf_backend_serves_other_vlm_families(arch, tmp_path):
    from medbridge.harness.backends.hf import MedbridgeHF
    from medbridge.harness.tiny_model import build_tiny_vlm

    ckpt = build_tiny_vlm(tmp_path / arch, arch)
    backend = MedbridgeHF(pretrained=str(ckpt), device="cpu", cache=False)
    backend.task_dict = DOCS
    reqs = make_requests([(0, 4, SAMPLED), (1, 1, GREEDY), (2, 1, GREEDY)])
    first = texts(backend.generate_until(reqs))
    assert len(first) == 6 and len(set(first[:4])) == 4  # four different samples (random weights)
    assert texts(backend.generate_until(make_requests([(0, 4, SAMPLED), (1, 1, GREEDY), (2, 1, GREEDY)]))) == first


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen2_vl", "qwen3_vl", "llava"])
def test_shared_prefill_gives_exactly_the_num_return_sequences_samples(arch, tmp_path, tiny_model):
    from medbridge.harness.backends.hf import MedbridgeHF
    from medbridge.harness.tiny_model import build_tiny_vlm

    ckpt = tiny_model if arch == "qwen2_5_vl" else build_tiny_vlm(tmp_path / arch, arch)
    outs = {}
    for shared in (True, False):
        backend = MedbridgeHF(pretrained=str(ckpt), device="cpu", cache=False, prefill_once=shared)
        backend.task_dict = DOCS
        outs[shared] = texts(backend.generate_until(make_requests([(0, 8, SAMPLED), (3, 8, SAMPLED)])))
        assert backend.prefill_once is shared  # no silent fallback on these families
    assert outs[True] == outs[False]
