"""A small OpenAI-compatible HTTP server for tests: the one stand-in the suite allows (for paid LLM APIs).

It is a real HTTP server in a thread, spoken to by the real `openai` client over TCP:

- `GET /v1/models` lists `models`.
- `POST /v1/chat/completions` answers "Echo: <last user message>", one word per chunk when `stream` is
  true (server-sent events, a usage chunk when `stream_options.include_usage`, then `[DONE]`), honouring
  `max_tokens` (a word counts as a token). Unknown models get OpenAI's 404 body.
- Azure's path, `POST /openai/deployments/<deployment>/chat/completions?api-version=…` with an `api-key`
  header, answers the same way (the deployment name is the model).
- With `serve_model_list=False`, `/v1/models` answers 404 (as some proxies do).
- A wrong `Authorization: Bearer` gets OpenAI's 401 body. A request with the header `X-Test-Delay: <s>`
  is answered after that many seconds (to test timeouts).

Every request is recorded in `server.requests` (path, lower-cased headers, JSON body) so tests can check what was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

DEFAULT_API_KEY = "sk-local-test-0123456789abcdef"
AZURE_CHAT = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": …}, …]
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


class LLMServer:
    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        models: tuple[str, ...] = ("local-echo", "local-small"),
        chunk_delay: float = 0.02,
        serve_model_list: bool = True,
    ) -> None:
        self.serve_model_list = serve_model_list
        self.api_key = api_key
        self.models = models
        self.chunk_delay = chunk_delay
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="llm-server", daemon=True)

    @property
    def url(self) -> str:
        """The base URL a client is configured with (ends in /v1)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @staticmethod
    def reply_for(messages: list[dict[str, Any]]) -> str:
        last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        return f"Echo: {last_user}".strip()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, code: str) -> None:
                self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

            def _authorised(self, body: dict[str, Any]) -> bool:
                server.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                delay = self.headers.get("X-Test-Delay")
                if delay:
                    time.sleep(float(delay))
                key = self.headers.get("api-key") or self.headers.get("Authorization", "").removeprefix("Bearer ")
                if key != server.api_key:
                    self._error(401, "Incorrect API key provided.", "invalid_api_key")
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorised({}):
                    return
                if self.path.rstrip("/") != "/v1/models" or not server.serve_model_list:
                    self._error(404, f"Unknown path {self.path}", "not_found")
                    return
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "tests"} for m in server.models]
                self._json(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._authorised(body):
                    return
                path = urlsplit(self.path).path
                azure = AZURE_CHAT.match(path)
                if path != "/v1/chat/completions" and not azure:
                    self._error(404, f"Unknown path {self.path}", "not_found")
                    return
                model = azure.group(1) if azure else body.get("model")
                if model not in server.models:
                    self._error(404, f"The model `{model}` does not exist.", "model_not_found")
                    return
                messages = body.get("messages") or []
                words = server.reply_for(messages).split(" ")
                limit = body.get("max_tokens") or body.get("max_completion_tokens")
                if limit:
                    words = words[: int(limit)]
                prompt_tokens = sum(len(_text(m.get("content")).split()) for m in messages)
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(words),
                    "total_tokens": prompt_tokens + len(words),
                }
                if body.get("stream"):
                    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    self._stream(model, words, usage, include_usage=include_usage)
                    return
                self._json(
                    200,
                    {
                        "id": "chatcmpl-local",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": " ".join(words)},
                                "finish_reason": "length" if limit else "stop",
                            }
                        ],
                        "usage": usage,
                    },
                )

            def _stream(self, model: str, words: list[str], usage: dict[str, int], *, include_usage: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()

                def event(delta: dict[str, Any], finish: str | None = None, usage_: dict | None = None) -> None:
                    chunk = {
                        "id": "chatcmpl-local",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [] if usage_ else [{"index": 0, "delta": delta, "finish_reason": finish}],
                    }
                    if usage_:
                        chunk["usage"] = usage_
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()

                event({"role": "assistant", "content": ""})
                for index, word in enumerate(words):
                    time.sleep(server.chunk_delay)
                    event({"content": word if index == 0 else " " + word})
                event({}, finish="stop")
                if include_usage:
                    event({}, usage_=usage)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler
