"""The unit tests are pure: a database connection or a socket opened inside one fails the test loudly.

`sqlite3.connect` and `socket.socket` are replaced for the duration of every test in this
directory, so "no database, no HTTP" is enforced rather than promised: the Store, slack_sdk,
urllib and `socket.create_connection` all go through one of the two.
"""

from __future__ import annotations

import socket
import sqlite3
from typing import Any, NoReturn

import pytest


class ImpureCall(AssertionError):
    """A unit test reached for the database or the network."""


def _refuse_connect(*args: Any, **kwargs: Any) -> NoReturn:
    raise ImpureCall(f"tests/unit must stay pure: sqlite3.connect{args!r} was called")


class _NoSocket(socket.socket):
    """Still a class (isinstance checks keep working), but one that cannot be instantiated."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImpureCall(f"tests/unit must stay pure: socket.socket{args!r} was called")


@pytest.fixture(autouse=True)
def _pure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "connect", _refuse_connect)
    monkeypatch.setattr(socket, "socket", _NoSocket)
