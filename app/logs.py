"""Logging set-up with a last line of defence: Slack tokens are masked in every record."""

from __future__ import annotations

import logging
import re

from app.config import default_host_name

_TOKEN = re.compile(r"\b(xox[abpre]|xapp)-[A-Za-z0-9-]+")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _TOKEN.search(message):
            record.msg = _TOKEN.sub(lambda m: f"{m.group(1)}-***", message)
            record.args = None
        return True


class HostName(logging.Filter):
    """Stamps every record with this host's name, so that the logs of several Ladder hosts say which one did what."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def filter(self, record: logging.LogRecord) -> bool:
        record.host = self.host
        return True


def configure(level: str = "INFO", host: str = "") -> None:
    """`host`: this host's name (HOST_NAME, by default hostname:pid), written into every line after the time."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(host)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(HostName(host or default_host_name()))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # slack_sdk logs whole request bodies at DEBUG; keep it quieter unless asked for.
    logging.getLogger("slack_sdk").setLevel(level if level == "DEBUG" else "WARNING")
    logging.getLogger("slack_bolt").setLevel(level if level == "DEBUG" else "WARNING")


class HeldBack(logging.Filter):
    """The records of some loggers (the Slack SDK's), held back from the root handlers while a start-up check runs.

    When the check fails, Ladder explains the failure in one paragraph naming the setting, and the
    SDK's own error lines ("Failed to retrieve WSS URL: …") would only come before it saying less;
    so they are dropped. When the check passes they are logged after all, and nothing is lost.
    """

    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.records: list[logging.LogRecord] = []
        self._handlers = list(logging.getLogger().handlers)
        for handler in self._handlers:
            handler.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in self.prefixes:
            self.records.append(record)
            return False
        return True

    def _detach(self) -> list[logging.LogRecord]:
        for handler in self._handlers:
            handler.removeFilter(self)
        records, self.records = self.records, []
        return records

    def release(self) -> None:
        """The check passed: log what was held, as it would have been."""
        for record in self._detach():
            for handler in self._handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)

    def drop(self) -> None:
        """The check failed and its paragraph says it all: forget what was held."""
        self._detach()
