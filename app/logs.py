"""Logging set-up with a last line of defence: Slack tokens are masked in every record."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"\b(xox[abpre]|xapp)-[A-Za-z0-9-]+")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _TOKEN.search(message):
            record.msg = _TOKEN.sub(lambda m: f"{m.group(1)}-***", message)
            record.args = None
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # slack_sdk logs whole request bodies at DEBUG; keep it quieter unless asked for.
    logging.getLogger("slack_sdk").setLevel(level if level == "DEBUG" else "WARNING")
    logging.getLogger("slack_bolt").setLevel(level if level == "DEBUG" else "WARNING")
