"""A small client of ``rmbench serve`` (docs/serve.md), standard library only: ``POST /score`` and
``POST /get_reward`` over one keep-alive connection per thread, so many threads may share a client.

Used by the ``bon`` and ``rl`` suites when their ``proxy`` is a URL, by the tests and by the benchmark. A bearer token
comes from ``token`` or, when not given, the ``RMBENCH_REWARD_TOKEN`` environment variable (never from a suite
option: those are recorded in ``result.json``).
"""
from __future__ import annotations

import http.client
import json
import os
import threading
from urllib.parse import urlsplit

from harness.errors import ConfigError, RmbenchError

TOKEN_ENV = "RMBENCH_REWARD_TOKEN"


def is_url(text: str) -> bool:
    """``text`` is an http(s) URL with a host (a served reward model)."""
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class RewardServerError(RmbenchError):
    """The server answered with an error status (its message included) or could not be reached."""


class RewardClient:
    """``RewardClient("http://127.0.0.1:5000")``: the server's base URL (a path such as ``/get_reward`` after it is
    dropped, so the URL given to OpenRLHF works here too)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 600.0):
        if not is_url(url):
            raise ConfigError(f"expected the http(s) URL of an `rmbench serve` server, got {url!r}")
        parts = urlsplit(url)
        self.url, self.https, self.netloc = url, parts.scheme == "https", parts.netloc
        self.timeout = timeout
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()

    # -- endpoints ------------------------------------------------------------------------------------------------
    def score(self, prompts: list, responses: list[str]) -> list[float]:
        """Rewards of (prompt, response) pairs, rendered by the server with its model's chat template."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        if not prompts:
            return []
        items = [{"prompt": p, "response": r} for p, r in zip(prompts, responses)]
        return self.request("POST", "/score", {"items": items})["rewards"]

    def get_reward(self, queries: list[str], prompts: list[str] | None = None, labels: list | None = None) -> dict:
        """OpenRLHF's request: already rendered ``queries`` (and the rendered ``prompts``); the whole answer."""
        body = {"query": queries}
        if prompts is not None:
            body["prompts"] = prompts
        if labels is not None:
            body["labels"] = labels
        return self.request("POST", "/get_reward", body)

    def info(self) -> dict:
        return self.request("GET", "/info")

    def health(self) -> dict:
        return self.request("GET", "/health")

    # -- transport ------------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        """One request; the JSON answer, or :class:`RewardServerError` naming the status and the server's message.
        A keep-alive connection the server closed meanwhile is reopened once."""
        payload = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=payload, headers=self.headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.close()
                if attempt:
                    raise RewardServerError(f"{self.url}: connection lost ({e})") from e
            except OSError as e:
                self.close()
                raise RewardServerError(f"cannot reach the reward server at {self.url} ({e})") from e
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {"detail": data[:200].decode(errors="replace")}
        if response.status != 200:
            raise RewardServerError(f"{self.url}{path}: HTTP {response.status}: {answer.get('detail', answer)}")
        return answer

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = self._local.conn = cls(self.netloc, timeout=self.timeout)
        return conn

    def close(self) -> None:
        """Close this thread's connection (a later request opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
