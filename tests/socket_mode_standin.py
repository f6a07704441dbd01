"""A local Socket Mode server speaking Slack's envelope protocol over a real websocket.

On connect it sends `hello`; tests push envelopes (`slash_commands`, `interactive`,
`events_api`) and read back the acks the app sends (`{"envelope_id": ..., "payload": ...}`).
The app finds it through `apps.connections.open` at the Web API stand-in.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Any

from websockets.sync.server import ServerConnection, serve


class SocketModeStandIn:
    def __init__(self) -> None:
        self.acks: dict[str, dict[str, Any]] = {}
        self.acked_on: dict[str, int] = {}  # envelope id -> which connection (index in `connections`) answered it
        self.connections: list[ServerConnection] = []
        self._outbox: "queue.Queue[dict[str, Any]]" = queue.Queue()
        self._lock = threading.Lock()
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-standin", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link/?ticket=test-ticket&app_id=A0LADDER1"

    def start(self) -> "SocketModeStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections.append(connection)
        connection.send(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0LADDER1"},
                                    "debug_info": {"host": "standin", "approximate_connection_time": 3600}}))
        while True:
            try:
                envelope = self._outbox.get_nowait()
                connection.send(json.dumps(envelope))
            except queue.Empty:
                pass
            try:
                message = connection.recv(timeout=0.02)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the client went away
                return
            data = json.loads(message)
            if "envelope_id" in data:
                with self._lock:
                    self.acks[data["envelope_id"]] = data
                    self.acked_on[data["envelope_id"]] = self.connections.index(connection)

    def send(self, envelope_type: str, payload: dict[str, Any], accepts_response_payload: bool = True) -> str:
        envelope_id = str(uuid.uuid4())
        self._outbox.put({"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                          "accepts_response_payload": accepts_response_payload, "retry_attempt": 0, "retry_reason": ""})
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id]
            time.sleep(0.01)
        raise AssertionError(f"no ack for envelope {envelope_id}")
