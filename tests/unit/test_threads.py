"""app.threads: the OS sees the name a thread gives itself; no name can make it raise."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from app.threads import NAME_BYTES, name_native_thread, native_name_bytes


def comm_after_naming(name: str) -> str | None:
    """Start a thread that names itself `name`; what the kernel then calls it (None without /proc).

    Whatever the naming raised is raised here.
    """
    seen: list[str | None] = []
    raised: list[BaseException] = []

    def body() -> None:
        try:
            name_native_thread(name)
            comm = Path(f"/proc/self/task/{threading.get_native_id()}/comm")
            seen.append(comm.read_text().rstrip("\n") if comm.exists() else None)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            raised.append(error)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    if raised:
        raise raised[0]
    assert seen, "the thread did not finish"
    return seen[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl(PR_SET_NAME) are Linux's")
def test_the_kernel_sees_the_name() -> None:
    assert comm_after_naming("ladder-worker") == "ladder-worker"
    assert comm_after_naming("ladder-delivery") == "ladder-delivery"  # exactly 15 bytes: kept whole


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl(PR_SET_NAME) are Linux's")
def test_a_long_name_is_cut_to_15_bytes() -> None:
    assert comm_after_naming("ladder-delivery-pool-7") == "ladder-delivery"


def test_names_that_do_not_fit_do_not_raise() -> None:
    for name in ("x" * 100, "ladder-zürichΩ-worker", "ab日本語のスレッド名", "", "nul\0inside"):
        comm = comm_after_naming(name)  # raises here if naming raised
        raw = native_name_bytes(name)
        assert len(raw) <= NAME_BYTES and b"\0" not in raw
        assert raw.decode("utf-8") == name.replace("\0", "")[:len(raw.decode("utf-8"))]  # a prefix, never half a character
        if comm is not None and raw:
            assert comm == raw.decode("utf-8")


def test_the_name_of_the_calling_thread_only() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    mine = Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text()
    comm_after_naming("ladder-other")
    assert Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text() == mine
