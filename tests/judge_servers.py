"""Servers the judge tests talk to: a scripted loopback OpenAI-compatible server for fault
injection, and a real ``transformers serve`` started once per session (tests/conftest.py)."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CORRECT = '{"verdict": "correct"}'
INCORRECT = '{"verdict": "incorrect"}'


def reference_judge(body: dict) -> str:
    """A deterministic stand-in verdict: correct iff the candidate's answer is the reference
    letter (MCQ prompt) or the reference text (open prompt), ignoring case."""
    text = body["messages"][0]["content"]
    if isinstance(text, list):
        text = next(p["text"] for p in text if p["type"] == "text")
    answer = re.search(r"<<<\n(.*?)\n>>>", text, re.DOTALL).group(1).strip().lower()
    letter = re.search(r"^Reference answer: ([A-Z])\. ", text, re.MULTILINE)
    reference = letter.group(1).lower() if letter else re.search(r"^Reference answer: (.*)$", text, re.MULTILINE).group(1).strip().lower()
    return CORRECT if answer.rstrip(".") == reference else INCORRECT


class ScriptedJudge:
    """``script``: actions consumed one per chat request, then ``default`` (a reply text or a
    function of the request body); ``GET /v1/models`` lists ``models``. Actions: a reply text; ``("status", 500)``; ``("slow", seconds, text)``;
    ``("malformed",)`` (200 with a body that is not JSON); ``("drop",)`` (close the connection)."""

    def __init__(self, script=(), default=CORRECT, models=("judge",), models_status=200):
        self.script = list(script)
        self.models = list(models)
        self.models_status = models_status
        self.default = default
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # /v1/models, which medbridge eval's preflight asks
                listing = {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in owner.models]}
                self._send(owner.models_status, json.dumps(listing if owner.models_status == 200 else {"error": {"message": "no"}}).encode())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.requests.append(body)
                    owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                    action = owner.script.pop(0) if owner.script else owner.default
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    self._act(action, body)
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

            def _act(self, action, body):
                if callable(action):
                    action = action(body)
                if isinstance(action, tuple) and action[0] == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if isinstance(action, tuple) and action[0] == "status":
                    self._send(action[1], json.dumps({"error": {"message": "scripted failure", "type": "server_error"}}).encode())
                    return
                if isinstance(action, tuple) and action[0] == "malformed":
                    self._send(200, b"{not json")
                    return
                if isinstance(action, tuple) and action[0] == "slow":
                    time.sleep(action[1])
                    action = action[2]
                reply = {
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": action}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107},
                }  # fmt: skip
                self._send(200, json.dumps(reply).encode())

            def _send(self, status: int, data: bytes):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
