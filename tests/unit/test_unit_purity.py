"""The guard in tests/unit/conftest.py works: a unit test that opens a database or a socket fails."""

from __future__ import annotations

import socket
import sqlite3
import urllib.request

import pytest

from app.store import Store
from tests.unit.conftest import ImpureCall


def test_no_database() -> None:
    with pytest.raises(ImpureCall, match="sqlite3.connect"):
        sqlite3.connect(":memory:")
    with pytest.raises(ImpureCall, match="sqlite3.connect"):
        Store(":memory:")  # the app's own way in


def test_no_sockets() -> None:
    with pytest.raises(ImpureCall, match="socket.socket"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(ImpureCall, match="socket.socket"):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(ImpureCall, match="socket.socket"):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=0.1)


def test_the_guard_is_still_a_class_for_isinstance_checks() -> None:
    assert isinstance(socket.socket, type) and not isinstance(object(), socket.socket)
