"""The composition root: one place that wires settings, store, catalog, Slack client and worker.

Nothing happens at import; `Runtime(settings)` loads the catalog, opens the database and
builds the Bolt app (which checks the bot token with auth.test), and `close()` undoes it.
Tests build one against the Slack stand-in.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from app.catalog import Catalog, load_catalog
from app.catalog.watch import CatalogWatcher
from app.config import Settings
from app.slack.app import build_bolt_app
from app.slack.delivery import SlackDelivery
from app.store import Store
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
        self.store = Store(settings.database_path, busy_timeout, background_checkpoints=True)
        try:
            self.catalog_watcher = CatalogWatcher(settings.catalog_path, initial, self.store, settings.admin_channel)
            # 429s are not retried inside the SDK: the outbox waits Retry-After without holding a thread.
            self.client = WebClient(
                token=settings.bot_token.get(), base_url=settings.slack_api_url, timeout=settings.slack_timeout,
                retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
            )
            self.delivery = SlackDelivery(self.store, self.client, lambda: self.catalog, settings.page_alert_after, clock=clock)
            self.worker = Worker(self.store, self.delivery, clock=clock, tick_seconds=settings.tick_seconds,
                                 threads=settings.delivery_threads, periodic=[self.catalog_watcher.poll, lambda _now: self.store.checkpoint()],
                                 due_work=lambda now: tick(self.store, self.catalog, now))
            self.bolt = build_bolt_app(self)
        except BaseException:
            self.store.close()  # Slack refused the token, say: no connection is left open behind the error
            raise

    @property
    def catalog(self) -> Catalog:
        """The catalog in force now; hot reload may replace it between two calls."""
        return self.catalog_watcher.current

    def close(self) -> None:
        self.worker.stop()
        self.store.close()
