"""`rmbench serve` as a real process on loopback, on a micro run: OpenRLHF-shaped requests get the rewards
`rmbench eval` wrote, 16 concurrent clients × 50 requests all correct, faults (disconnects, oversize, malformed,
wrong token) leave it answering, SIGTERM finishes the request in flight, and the bon suite scores through it."""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli_runner import invoke
from ports import free_port

pytestmark = pytest.mark.slow
TOKEN = "t0k3n-for-tests"
RMBENCH = [sys.executable, "-c", "from cli import app; app()"]  # `rmbench` of this checkout (on PYTHONPATH)
STARTUP_S = 240  # loading torch + the model on a busy 2-core machine


def start_server(run_dir: Path, root: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """`rmbench serve RUN --port P --token-file F` in a child process; returns once /health answers."""
    from harness.reward_client import RewardClient, RewardServerError

    port = free_port()
    token_file = root / "token"
    token_file.write_text(TOKEN + "\n")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    log = open(root / f"server-{port}.log", "w")
    proc = subprocess.Popen(RMBENCH + ["serve", str(run_dir), "--port", str(port),
                             "--token-file", str(token_file), "--device", "cpu", *extra],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    client = RewardClient(url, token=TOKEN, timeout=10)
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            client.health()
            return proc, url
        except RewardServerError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"rmbench serve did not start: {(root / f'server-{port}.log').read_text()[-3000:]}")
            time.sleep(0.5)


def stop_server(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_base):
    """(run dir, server URL, {(prompt, response): offline reward}, rows) for a micro bt run evaluated on id."""
    from harness.config import resolve
    from harness.data import world_splits

    root = tmp_path_factory.mktemp("serve")
    db = f"sqlite:///{root / 'rm.db'}"
    result = invoke("train", "bt", "--preset", "micro", "--set", "train.max_steps=5", "--runs-dir", root / "runs",
                    "--db", db, "--json")
    assert result.exit_code == 0, result.output
    run_dir = root / "runs" / json.loads(result.stdout)["run_id"]
    rows = {r["id"]: r for r in world_splits(resolve("micro").data.world)["id"]}
    offline = {}
    for line in (run_dir / "predictions" / "id" / "world-id.jsonl").read_text().splitlines():
        p = json.loads(line)
        row = rows[p["id"]]
        offline[(row["prompt"], row["chosen"])] = p["score_chosen"]
        offline[(row["prompt"], row["rejected"])] = p["score_rejected"]
    proc, url = start_server(run_dir, root, "--max-items", "64", "--max-bytes", "65536")
    try:
        yield run_dir, url, offline, root, db
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def encoder(served):
    from harness.data.encode import Encoder
    from harness.models import load_checkpoint

    model = load_checkpoint(served[0] / "checkpoint")
    return Encoder(model.tokenizer, model.cfg.max_length)


def client(url, token=TOKEN):
    from harness.reward_client import RewardClient

    return RewardClient(url, token=token, timeout=120)


def test_openrlhf_requests_get_the_offline_rewards(served, encoder):
    run_dir, url, offline, *_ = served
    pairs = list(offline)[:40]
    rendered = [encoder.texts(p, r) for p, r in pairs]  # what OpenRLHF sends: its templated prompt + the response
    queries = [p + r for p, r in rendered]
    expected = [offline[pr] for pr in pairs]
    old = client(url).get_reward(queries)  # the first protocol: {"query": [...]} → {"rewards": [...]}
    new = client(url).get_reward(queries, prompts=[p for p, _ in rendered], labels=[""] * len(queries))
    for answer in (old, new):
        assert answer["rewards"] == pytest.approx(expected, abs=1e-5)
    assert new["scores"] == new["rewards"] and new["extra_logs"]["truncated"] == [0.0] * len(queries)
    assert client(url).score([p for p, _ in pairs], [r for _, r in pairs]) == pytest.approx(expected, abs=1e-5)
    info = client(url).info()
    assert info["run_id"] == run_dir.name and info["method"] == "bt" and info["max_length"] == 128


def test_truncation_is_counted(served, encoder):
    _, url, offline, *_ = served
    prompt, response = next(iter(offline))
    long_response = " ".join([response] * 40)
    answer = client(url).request("POST", "/score", {"items": [{"prompt": prompt, "response": long_response},
                                                              {"prompt": prompt, "response": response}]})
    assert answer["truncated"] == 1 and answer["truncated_items"] == [0]
    assert answer["rewards"][1] == pytest.approx(offline[(prompt, response)], abs=1e-5)


def test_sixteen_concurrent_clients_get_the_offline_rewards(served, encoder):
    _, url, offline, *_ = served
    pairs = list(offline)[:120]  # a CPU-sized load: repeated texts in one model call are scored once
    shared = client(url)
    failures, done = [], []

    def worker(k: int):
        rng = random.Random(k)
        for i in range(50):
            batch = rng.sample(pairs, rng.randint(1, 4))
            try:
                if i % 2:
                    got = shared.score([p for p, _ in batch], [r for _, r in batch])
                else:
                    got = shared.get_reward(["".join(encoder.texts(p, r)) for p, r in batch])["rewards"]
                if got != pytest.approx([offline[pr] for pr in batch], abs=1e-5):
                    failures.append((k, i, got))
            except Exception as e:  # noqa: BLE001 - collected and reported below
                failures.append((k, i, repr(e)))
        done.append(k)

    before = shared.info()["served"]
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert sorted(done) == list(range(16)) and not failures, failures[:3]
    after = shared.info()["served"]
    assert after["requests"] - before["requests"] == 800
    assert after["model_calls"] - before["model_calls"] < 800  # concurrent requests shared model calls


def raw_http(url: str, request: bytes, read: bool = True) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(request)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def post(path: str, body: bytes, token: str | None = TOKEN, length: int | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token is not None else ""
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n").encode() + body


def test_faults_leave_the_server_answering(served, encoder):
    _, url, offline, *_ = served
    (prompt, response), expected = next(iter(offline.items()))
    query = json.dumps({"query": ["".join(encoder.texts(prompt, response))] * 32}).encode()

    def still_correct():
        assert client(url).score([prompt], [response]) == pytest.approx([expected], abs=1e-5)

    raw_http(url, post("/get_reward", query[:20], length=len(query)), read=False)  # disconnect mid-body
    still_correct()
    raw_http(url, post("/get_reward", query), read=False)  # disconnect before the answer
    still_correct()
    assert b" 413 " in raw_http(url, post("/get_reward", b"x" * 70000))[:20]  # over --max-bytes 65536
    assert b"max_items" in raw_http(url, post("/get_reward", json.dumps({"query": ["a"] * 65}).encode()))
    still_correct()
    for body in (b'{"query": [', b'{"query": 5}', b"\xff\xfe", b'{"items": [{"prompt": []}]}'):
        answer = raw_http(url, post("/get_reward" if b"query" in body else "/score", body))
        assert b" 422 " in answer[:20], answer
    assert b" 400 " in raw_http(url, b"GARBAGE / HTTP/1.1\r\n\r\n")[:20]
    still_correct()
    for token in ("wrong", None):
        assert b" 401 " in raw_http(url, post("/get_reward", query, token=token))[:20]
    from harness.reward_client import RewardServerError

    with pytest.raises(RewardServerError, match="401"):
        client(url, token="wrong").score([prompt], [response])
    still_correct()


def test_bon_scores_through_the_server(served, monkeypatch):
    run_dir, url, _, root, db = served
    overrides = ["--set", "bon.n_max=4", "--set", "bon.n_prompts=3", "--set", "bon.max_new_tokens=8",
                 "--set", "bon.policy=tiny"]
    monkeypatch.setenv("RMBENCH_REWARD_TOKEN", TOKEN)
    remote = invoke("eval", "--run", run_dir, "--suite", "bon", *overrides, "--set", f"bon.proxy={url}",
                    "--db", db, "--json")
    assert remote.exit_code == 0, remote.output
    local = invoke("eval", "--run", run_dir, "--suite", "bon", *overrides, "--db", db, "--json")
    assert local.exit_code == 0, local.output
    rows = lambda result, split: {m["metric"]: m["value"] for m in json.loads(result.stdout)["metrics"]  # noqa: E731
                                  if m["split"] == split}
    remote_rows, local_rows = rows(remote, "bon+remote"), rows(local, "bon")
    assert remote_rows and remote_rows.keys() == local_rows.keys()
    for metric, value in local_rows.items():  # same samples (seeded), same RM: same best-of-n
        assert remote_rows[metric] == pytest.approx(value, abs=1e-4), metric


def test_sigterm_finishes_the_request_in_flight(served):
    run_dir, url, offline, root, _ = served
    proc, url = start_server(run_dir, root)
    (prompt, response), expected = next(iter(offline.items()))
    body = json.dumps({"items": [{"prompt": prompt, "response": response}]}).encode()
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        request = post("/score", body)
        s.sendall(request[:-10])  # the request is in flight: its body is not complete
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        s.sendall(request[-10:])
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert b" 200 " in answer[:20], answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["rewards"] == pytest.approx([expected], abs=1e-5)
    assert proc.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has drained


def test_model_option_scores_a_checkpoint_as_its_run(served):
    from harness.reward_source import load_scorer

    run_dir, _, offline, *_ = served
    scorer, info = load_scorer(model=str(run_dir / "checkpoint"), device="cpu")
    pairs = list(offline)[:16]
    rewards = scorer.rewards(scorer.encode([p for p, _ in pairs], [r for _, r in pairs])[0])
    assert rewards == pytest.approx([offline[pr] for pr in pairs], abs=1e-5)
    assert info["run_id"] is None and info["model"] == str((run_dir / "checkpoint").resolve())


@pytest.mark.parametrize("args, message", [
    ((), "exactly one of RUN_DIR or --model"),
    (("--max-batch", "0"), "--max-batch must be >= 1"),
    (("--token-file", "/nonexistent/token"), "--token-file: cannot read"),
    (("--device", "warp9"), "--device"),
])
def test_bad_serve_settings_exit_2_before_serving(served, args, message):
    run_dir = served[0]
    result = invoke("serve", *(() if not args else (run_dir,)), *args)
    assert result.exit_code == 2 and message in result.output, result.output
