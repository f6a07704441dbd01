"""Two Ladder hosts in Socket Mode on one PostgreSQL database: Slack spreads envelopes across an app's connections,
so declarations arrive on both; each is recorded once, numbered once, and paged once by whichever host holds the lease.
"""

from __future__ import annotations

from app.runtime import Runtime
from app.slack.server import socket_mode_handler
from tests.slack_driver import SlackDriver
from tests.slack_standin import APP_TOKEN
from tests.socket_mode_standin import SocketModeStandIn
from tests.support import ladder_settings

DECLARATIONS = 8


def test_two_socket_mode_hosts_share_the_envelopes_and_page_each_incident_once(slack, tmp_path, clock, on_postgres) -> None:
    socket = SocketModeStandIn().start()
    slack.socket_url = socket.url
    hosts = [Runtime(ladder_settings(slack, tmp_path / f"unused-{n}.db", SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=""))
             for n in range(2)]
    handlers = [socket_mode_handler(host) for host in hosts]
    for handler in handlers:
        handler.connect()
    try:
        driver = SlackDriver("http://unused", slack)
        sam = slack.user_by_email("sam@example.com")
        views = []
        for n in range(DECLARATIONS):
            opened = len(slack.ok_calls_to("views.open"))
            socket.wait_for_ack(socket.send("slash_commands", driver.slash_fields(f"login broken {n}", sam)))
            views.append(driver.opened_view("declare_incident", after=opened))
        for n, view in enumerate(views):
            ack = socket.wait_for_ack(socket.send("interactive", driver.submission(view, sam, {"severity": "sev1"})))
            assert ack["payload"]["response_action"] == "update"
        assert sorted(set(socket.acked_on.values())) == [0, 1], "Slack's envelopes all reached one host"
        store = hosts[0].store
        incidents = [slack.wait_for(lambda v=view: store.incident_by_view(v["id"])) for view in views]
        assert sorted(i["number"] for i in incidents) == list(range(1, DECLARATIONS + 1))

        for _ in range(3):  # both hosts' workers step; only the lease holder may send
            for host in hosts:
                host.worker.drain(clock())
        frank = slack.user_by_email("frank@example.com")
        dm = slack.dm_with(frank)
        pages = [m for m in dm["messages"] if "INC-" in m.get("text", "")]
        assert sorted(int(m["text"].split("INC-")[1].split()[0].strip("*:·,")) for m in pages) == list(range(1, DECLARATIONS + 1))
        assert len(slack.incident_channels()) == DECLARATIONS
    finally:
        for handler in handlers:
            handler.close()
        socket.stop()
        for host in hosts:
            host.close()
