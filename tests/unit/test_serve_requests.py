"""The reward server's request handling (harness.serve) on a stand-in scorer, in process: shapes, limits, errors,
auth, micro-batching; the encoder's split of rendered text and its truncation flags; proxy URLs of bon / rl."""
import asyncio
import json

import pytest

from harness.errors import ConfigError
from harness.data.encode import Encoder
from harness.metric_keys import proxy_split
from harness.rl.rewards import check_proxy
from harness.serve import MicroBatcher, ServeSettings, create_app, read_token

TestClient = pytest.importorskip("fastapi.testclient").TestClient


class LengthScorer:
    """Reward = number of characters of prompt part + response part; a text longer than 20 characters is
    'truncated'. Records each model call."""

    def __init__(self):
        self.calls = []

    def encode(self, prompts, responses):
        texts = [(p if isinstance(p, str) else "".join(m["content"] for m in p)) + r
                 for p, r in zip(prompts, responses)]
        return [(list(map(ord, t)), 0) for t in texts], [len(t) > 20 for t in texts]

    def encode_rendered(self, texts, prompts=None):
        return [(list(map(ord, t)), 0) for t in texts], [len(t) > 20 for t in texts]

    def rewards(self, seqs):
        self.calls.append(len(seqs))
        return [float(len(ids)) for ids, _ in seqs]


@pytest.fixture
def client():
    scorer = LengthScorer()
    app = create_app(scorer, {"run_id": "r1", "method": "bt"}, ServeSettings(max_items=4, max_bytes=500))
    with TestClient(app) as c:
        c.scorer = scorer
        yield c


def test_get_reward_answers_both_openrlhf_shapes(client):
    old = client.post("/get_reward", json={"query": ["abc", "hello"]})
    assert old.status_code == 200 and old.json()["rewards"] == [3.0, 5.0]
    new = client.post("/get_reward", json={"query": ["abc", "x" * 25], "prompts": ["a", "x"], "labels": ["", ""]})
    body = new.json()
    assert body["rewards"] == body["scores"] == [3.0, 25.0]
    assert body["truncated"] == 1 and body["extra_logs"] == {"truncated": [0.0, 1.0]}


def test_score_items_and_messages(client):
    r = client.post("/score", json={"items": [{"prompt": "ab", "response": "c"},
                                              {"messages": [{"role": "user", "content": "ab"},
                                                            {"role": "assistant", "content": "cd"}]}]})
    assert r.status_code == 200 and r.json() == {"rewards": [3.0, 4.0], "truncated": 0, "truncated_items": []}


@pytest.mark.parametrize("path, body, field", [
    ("/get_reward", b'{"query": ["a"', "body"),
    ("/get_reward", b'["a"]', "body"),
    ("/get_reward", b'{"prompts": ["a"]}', "query"),
    ("/get_reward", b'{"query": "abc"}', "query"),
    ("/get_reward", b'{"query": ["a", 3]}', "query.1"),
    ("/get_reward", b'{"query": ["a"], "prompts": ["a", "b"]}', "prompts"),
    ("/score", b'{"items": [{"prompt": "a"}]}', "items.0.response"),
    ("/score", b'{"items": [{"prompt": "a", "response": 1}]}', "items.0.response"),
    ("/score", b'{"items": [{"messages": [{"role": "user", "content": "a"}]}]}', "items.0.messages"),
    ("/score", b'{"items": [{"messages": [{"role": "user"}]}]}', "items.0.messages.0.content"),
])
def test_bad_requests_are_422_naming_the_field_and_the_server_goes_on(client, path, body, field):
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == field and field in r.json()["detail"]
    assert client.post("/get_reward", json={"query": ["abcd"]}).json()["rewards"] == [4.0]


def test_limits_are_413_naming_the_limit(client):
    too_many = client.post("/get_reward", json={"query": ["a"] * 5})
    assert too_many.status_code == 413 and too_many.json()["limit"] == "max_items" and "max_items=4" in \
        too_many.json()["detail"]
    too_big = client.post("/get_reward", json={"query": ["a" * 600]})
    assert too_big.status_code == 413 and too_big.json()["limit"] == "max_bytes"
    assert client.post("/get_reward", json={"query": ["ab"]}).json()["rewards"] == [2.0]


def test_bearer_token_required_when_configured():
    app = create_app(LengthScorer(), {}, ServeSettings(), token="s3cret")
    with TestClient(app) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = c.post("/get_reward", json={"query": ["a"]}, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert c.get("/info", headers=headers).status_code == 401
        ok = c.post("/get_reward", json={"query": ["ab"]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["rewards"] == [2.0]
        info = c.get("/info", headers={"Authorization": "Bearer s3cret"}).json()
        assert info["auth"] is True and "s3cret" not in json.dumps(info)


def test_a_scorer_error_answers_500_and_the_next_request_is_served():
    scorer = LengthScorer()
    real = scorer.rewards
    scorer.rewards = lambda seqs: (_ for _ in ()).throw(RuntimeError("boom")) if len(seqs[0][0]) == 4 else real(seqs)
    with TestClient(create_app(scorer, {}, ServeSettings(max_wait_ms=0))) as c:
        bad = c.post("/get_reward", json={"query": ["abcd"]})
        assert bad.status_code == 500 and "boom" in bad.json()["detail"]
        assert c.post("/get_reward", json={"query": ["abc"]}).json()["rewards"] == [3.0]


def test_micro_batcher_scores_concurrent_requests_together_in_order():
    scorer = LengthScorer()

    async def main():
        batcher = MicroBatcher(scorer, max_wait_s=0.05, round_size=1000)
        batcher.start()
        requests = [[([0] * n, 0) for n in range(k, k + 3)] for k in range(1, 30, 3)]
        answers = await asyncio.gather(*(batcher.submit(seqs) for seqs in requests))
        await batcher.stop()
        return requests, answers

    requests, answers = asyncio.run(main())
    assert answers == [[float(len(ids)) for ids, _ in seqs] for seqs in requests]
    assert scorer.calls == [30]  # ten requests, one model call


def test_settings_and_token_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="--max-batch"):
        ServeSettings(max_batch=0)
    with pytest.raises(ConfigError, match="empty"):
        (tmp_path / "t").write_text("\n")
        read_token(tmp_path / "t")
    with pytest.raises(ConfigError, match="cannot read"):
        read_token(tmp_path / "missing")
    (tmp_path / "t").write_text("abc\n")
    assert read_token(tmp_path / "t") == "abc"


class _ChatTokenizer:
    """Enough of a tokenizer for :class:`Encoder`'s chat path: one token per character (offsets included)."""

    chat_template = "{{ chat }}"
    is_fast = True
    pad_token = "<pad>"
    cls_token_id = bos_token_id = sep_token_id = eos_token_id = None

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        text = "".join(f"<{m['role']}>{m['content']}<end>" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")

    def __call__(self, texts, add_special_tokens=False, return_offsets_mapping=False):
        out = {"input_ids": [[ord(c) for c in t] for t in texts]}
        if return_offsets_mapping:
            out["offset_mapping"] = [[(i, i + 1) for i in range(len(t))] for t in texts]
        return out


def test_split_rendered_finds_the_prompt_as_eval_renders_it():
    enc = Encoder(_ChatTokenizer(), max_length=1000)
    assert enc.generation_prompt == "<assistant>"
    prompt, response = enc.texts("What?", "Yes.")
    rendered = prompt + response
    assert enc.split_rendered(rendered) == (prompt, response)
    assert enc.split_rendered("<pad><pad>" + rendered) == (prompt, response)  # left padding dropped
    assert enc.split_rendered(rendered, prompt=prompt) == (prompt, response)
    assert enc.split_rendered("no template here") == ("", "no template here")
    assert enc.encode_texts([enc.split_rendered(rendered)]) == (enc.encode(["What?"], ["Yes."]) , [False])


def test_encode_texts_flags_truncation():
    enc = Encoder(_ChatTokenizer(), max_length=30)
    (short, long_), flags = enc.encode_texts([("<user>a<end><assistant>", "b<end>"), ("<user>" + "a" * 40, "b" * 9)])
    assert flags == [False, True] and len(long_[0]) == 30 and len(short[0]) == 29
    assert long_[0][-9:] == [ord("b")] * 9  # the response tail is kept


def test_proxy_may_be_a_url():
    assert check_proxy("http://127.0.0.1:5000", "bon") == "http://127.0.0.1:5000"
    with pytest.raises(ConfigError, match="URL"):
        check_proxy("ftp://x", "bon")
    assert proxy_split("bon", "http://127.0.0.1:5000/get_reward") == "bon+remote"
    assert (proxy_split("bon", "rm"), proxy_split("ppo", "gold")) == ("bon", "ppo+gold")
