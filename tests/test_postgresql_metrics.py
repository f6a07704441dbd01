"""/metrics says the database is down while it is, whether or not anyone asks /healthz (a regression test).

Found in review of 6fee9bd: `ladder_database_up` on /metrics says 1 while PostgreSQL is down, unless someone asked /healthz.

The gauge is set only by the /healthz probe (app/health.py `Health.check` -> `metrics.database_probed`). Prometheus
scrapes /metrics, not /healthz; a host nobody health-checks (Socket Mode with HEALTH_PORT scraped by Prometheus only,
or a load balancer probing another path) reports its database up for as long as the outage lasts, so an alert on
`ladder_database_up == 0` never fires. The same scrape already shows the outbox depth family empty, because it could
not read the database: the two figures contradict each other.
"""

from __future__ import annotations

import pytest

from tests.support import Ladder
from tests.test_health_metrics import port_of, scrape, value


@pytest.fixture(autouse=True)
def _on_postgresql(on_postgres: str) -> str:
    return on_postgres


def test_a_scrape_while_postgresql_is_down_says_the_database_is_down(ladder: Ladder, postgres_server) -> None:
    assert value(scrape(port_of(ladder)), "ladder_database_up") == 1
    postgres_server.stop()
    try:
        samples = scrape(port_of(ladder))
        assert value(samples, "ladder_outbox_depth", kind="page") == 0  # not shown: the scrape could not read it
        assert value(samples, "ladder_database_up") == 0, "the database is down, yet /metrics says ladder_database_up 1"
    finally:
        postgres_server.start()
