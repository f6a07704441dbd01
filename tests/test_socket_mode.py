"""The declare flow over Socket Mode: hello, envelopes, acks, against a local websocket server."""

from __future__ import annotations

from app.runtime import Runtime
from app.slack.server import socket_mode_handler
from tests.slack_driver import SlackDriver
from tests.slack_standin import APP_TOKEN
from tests.socket_mode_standin import SocketModeStandIn
from tests.support import ladder_settings


def test_declare_over_socket_mode(slack, tmp_path, clock) -> None:
    socket = SocketModeStandIn().start()
    slack.socket_url = socket.url
    settings = ladder_settings(slack, tmp_path / "ladder.db", SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
    assert settings.socket_mode
    runtime = Runtime(settings)
    handler = socket_mode_handler(runtime)
    handler.connect()
    try:
        # The app asked Slack (the stand-in) for a socket URL with its app-level token.
        assert slack.ok_calls_to("apps.connections.open")
        driver = SlackDriver("http://unused", slack)
        sam = slack.user_by_email("sam@example.com")

        command = driver.slash_fields("login broken", sam)
        envelope = socket.send("slash_commands", command)
        ack = socket.wait_for_ack(envelope)
        assert ack["envelope_id"] == envelope
        view = driver.opened_view("declare_incident")
        service = next(b for b in view["blocks"] if b["block_id"] == "service")
        assert service["element"]["initial_option"]["value"] == "login"

        envelope = socket.send("interactive", driver.submission(view, sam, {"severity": "sev1"}))
        ack = socket.wait_for_ack(envelope)
        assert ack["payload"]["response_action"] == "update"
        slack.wait_for(lambda: runtime.store.incident_by_view(view["id"]))
        runtime.worker.drain(clock())

        # Identity's on-call at 05:00 New York time on Monday 2026-11-23: frank (daily hand-off at 10:00).
        frank = slack.user_by_email("frank@example.com")
        dms = [c for c in slack.channels.values() if c["is_im"] and c["messages"]]
        assert [c["user"] for c in dms] == [frank]
        assert "INC-1" in dms[0]["messages"][0]["text"]
        assert slack.channel_named("inc-1-login-broken") is not None
    finally:
        handler.close()
        socket.stop()
        runtime.close()
