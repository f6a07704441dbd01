"""A Slack Web API that says yes, at once, in a process of its own: for load benchmarks, where the stand-in's
fidelity (triggers, channel rules, kept messages) would cost more than the app under test.

Answers every method the way bench.history's InProcessSlack does (channel IDs, message timestamps,
user IDs from e-mails, views with IDs), and response_url posts with "ok". Counts calls per method
and prints them as JSON on SIGTERM.

    .venv/bin/python -m bench.okslack PORT
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from bench.history import InProcessSlack

COUNTS: dict[str, int] = {}
_lock = threading.Lock()
_serial = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        method = (self.path.split("?")[0].rsplit("/", 1)[-1] if self.path.startswith("/api/")
                  else "upload" if self.path.startswith("/upload/") else "response_url")
        with _lock:
            COUNTS[method] = COUNTS.get(method, 0) + 1
            serial = next(_serial)
        if method in ("response_url", "upload"):  # a response_url post, or step two of a file upload
            self._send(b"ok" if method == "response_url" else b"OK", "text/plain")
            return
        params: dict[str, Any] = {}
        if "json" in (self.headers.get("Content-Type") or ""):
            params = json.loads(raw or "{}")
        else:
            params = dict(parse_qsl(raw, keep_blank_values=True))
        if method in ("views.open", "views.update", "views.push"):
            answer: dict[str, Any] = {"view": {"id": f"V{serial:09d}", "hash": f"1.{serial}"}}
        else:
            answer = InProcessSlack._answer(method, params, serial, f"http://{self.headers.get('Host')}")  # noqa: SLF001
        self._send(json.dumps({"ok": True, **answer}).encode(), "application/json")

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024

    def stop(*_: Any) -> None:
        print(json.dumps(COUNTS), flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
