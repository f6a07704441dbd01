"""The composition root: one place that wires settings, store, catalog, Slack client and worker.

Nothing happens at import; `Runtime(settings)` loads the catalog, opens the database and
builds the Bolt app (which checks the bot token with auth.test), and `close()` undoes it.
Tests build one against the Slack stand-in.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from app.catalog import Catalog, load_catalog
from app.catalog.watch import CatalogWatcher
from app.config import Settings, default_host_name
from app.health import PROBE_SECONDS, Health, OpsEndpoints
from app.metrics import Metrics
from app.slack.app import build_bolt_app
from app.slack.delivery import SlackDelivery
from app.store.engines import open_store
from app.worker import Worker, tick, utcnow

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow, catalog: Catalog | None = None,
                 busy_timeout: float = 30.0) -> None:
        self.settings = settings
        self.clock = clock
        # The catalog first: a missing or broken one stops start-up before a database file is created for nothing.
        initial = catalog if catalog is not None else load_catalog(settings.catalog_path)
        # The periodic thread checkpoints the write-ahead log (below): no request's commit does it.
        self.store = open_store(settings.database_path, settings.database_url.get() or None, busy_timeout,
                                background_checkpoints=True)
        try:
            self.host = settings.host_name or default_host_name()  # in every log line (app/logs.py) and in the metrics
            self.metrics = Metrics(self.host, outbox_depth=self._outbox_depth, lease_held=lambda: self.worker.holds_lease(),
                                   engine=self.store.engine)
            self.catalog_watcher = CatalogWatcher(settings.catalog_path, initial, self.store, settings.admin_channel,
                                                  metrics=self.metrics)
            # 429s are not retried inside the SDK: the outbox waits Retry-After without holding a thread.
            self.client = WebClient(
                token=settings.bot_token.get(), base_url=settings.slack_api_url, timeout=settings.slack_timeout,
                retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
            )
            self.delivery = SlackDelivery(self.store, self.client, lambda: self.catalog, settings.page_alert_after, clock=clock,
                                          metrics=self.metrics)
            self.worker = Worker(self.store, self.delivery, clock=clock, tick_seconds=settings.tick_seconds,
                                 threads=settings.delivery_threads, periodic=[self.catalog_watcher.poll, lambda _now: self.store.checkpoint()],
                                 due_work=lambda now: tick(self.store, self.catalog, now, progress=self.worker.beat),
                                 metrics=self.metrics,
                                 holder=f"{self.host}:{uuid.uuid4().hex[:8]}")  # the lease names the host the logs name
            self.health = Health(self.store, self.metrics, self.worker.holds_lease, clock, settings.tick_seconds, self.host)
            self.ops = OpsEndpoints(self.health, self.metrics)  # GET /healthz and /metrics, on PORT and on HEALTH_PORT
            self.bolt = build_bolt_app(self)
        except BaseException:
            self.store.close()  # Slack refused the token, say: no connection is left open behind the error
            raise

    @property
    def catalog(self) -> Catalog:
        """The catalog in force now; hot reload may replace it between two calls."""
        return self.catalog_watcher.current

    def _outbox_depth(self) -> dict[str, int]:
        """For a scrape: read without waiting long on a busy or absent database (Prometheus gives up after 10 s)."""
        with self.store.impatient(PROBE_SECONDS):
            return self.store.outbox_depth_by_kind()

    def close(self) -> None:
        self.worker.stop()
        self.store.close()
