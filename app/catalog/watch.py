"""Hot reload: the running bot picks up catalog edits, and refuses broken ones.

A thread beside the worker (`Worker.periodic`) polls the file's modification time and size once
a tick (a `stat`, nothing more), so a slow load never holds back a page. A changed file is parsed; a valid one replaces the catalog in force (open incidents keep the
policy snapshot they were declared with), an invalid one is rejected: every problem is logged
and, if ADMIN_CHANNEL is set, posted there through the outbox, and the last good catalog stays.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Callable

from app import outbox
from app.catalog import Catalog, CatalogError, load_catalog
from app.catalog.lint import lint
from app.metrics import NO_METRICS, Recorder
from app.store import Store
from app.text import escape_mrkdwn, truncate

# The name it logged under as app/catalog_watch.py: log filters and alerts that match it keep working.
log = logging.getLogger("app.catalog_watch")


class CatalogWatcher:
    def __init__(self, path: Path, catalog: Catalog, store: Store, admin_channel: str = "", *,
                 metrics: Recorder = NO_METRICS) -> None:
        self.path = path
        self.metrics = metrics  # counts reloads put in force and rejected
        self.store = store
        self.admin_channel = admin_channel
        self._current = catalog
        self._stamp = self._stat()
        self._lock = threading.Lock()
        self._prepare: list[Callable[[Catalog], None]] = []

    def prepare_with(self, prepare: Callable[[Catalog], None]) -> None:
        """Run `prepare` on the catalog in force now and on each new one before it is put in force.

        What requests derive from a catalog (routing's index, the declare form) is then built here,
        on the reload's thread, rather than by the first request after a reload.
        """
        self._prepare.append(prepare)
        self._prepared(self._current)

    def _prepared(self, catalog: Catalog) -> Catalog:
        for prepare in self._prepare:
            try:
                prepare(catalog)
            except Exception:  # noqa: BLE001 - a request would build it again (and say what failed); the catalog stands
                log.exception("preparing catalog %s for requests failed", catalog.digest)
        return catalog

    @property
    def current(self) -> Catalog:
        return self._current

    def _stat(self) -> tuple[float, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_mtime, info.st_size)

    def poll(self, now: datetime) -> bool | None:
        """Reload if the file changed: True when a new catalog is in force, False when one was rejected."""
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp:
                return None
            self._stamp = stamp
            try:
                catalog = load_catalog(self.path)
            except CatalogError as exc:
                self.metrics.catalog_reloaded(False)
                self._reject(exc, now)
                return False
            if catalog.digest == self._current.digest:
                return None
            self._current = self._prepared(catalog)
            self.metrics.catalog_reloaded(True)
            log.info("catalog %s reloaded (%s): %d services, %d teams", self.path, catalog.digest, len(catalog.services), len(catalog.teams))
            for warning in lint(catalog, now):
                log.warning("catalog %s", warning)
            return True

    def _reject(self, error: CatalogError, now: datetime) -> None:
        log.error("catalog %s rejected; keeping the last good one (%s):\n  %s", self.path, self._current.digest,
                  "\n  ".join(str(i) for i in error.issues))
        if not self.admin_channel:
            return
        lines = "\n".join(f"• {escape_mrkdwn(str(i))}" for i in error.issues[:30])
        more = f"\n…and {len(error.issues) - 30} more" if len(error.issues) > 30 else ""
        text = truncate(f":warning: The catalog `{escape_mrkdwn(str(self.path))}` was edited but is invalid, so Ladder "
                        f"keeps the last good version ({self._current.digest}). Fix these and save again:\n{lines}{more}", 3900)
        digest = hashlib.sha256(str(error).encode()).hexdigest()[:12]
        with self.store.transaction() as tx:
            tx.enqueue(outbox.named_channel_message(outbox.notice_key("catalog_rejected", digest), self.admin_channel, text), now)
