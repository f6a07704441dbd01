"""OS-level thread names, so Ladder's threads can be told apart from outside the process.

Python 3.11 names a `threading.Thread` only inside Python: to the kernel every thread of the
process is "python" (/proc/<pid>/task/<tid>/comm). Operators looking at `top -H` or `ps -L`
during an incident, and bench.listener_latency splitting the process's CPU between the request
path and the background worker, need the names the kernel sees, so the long-lived threads call
`name_native_thread` as they start.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

PR_SET_NAME = 15  # <linux/prctl.h>
NAME_BYTES = 15  # the kernel keeps 16 bytes, the last one a NUL


@functools.cache
def _prctl() -> Any:
    """libc's prctl, looked up on first use (nothing is loaded at import); None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    for library in (None, "libc.so.6"):  # None: the symbols already loaded into this process, libc's among them
        try:
            prctl = ctypes.CDLL(library, use_errno=True).prctl
        except (OSError, AttributeError):
            continue
        prctl.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        prctl.restype = ctypes.c_int
        return prctl
    return None


def native_name_bytes(name: str) -> bytes:
    """`name` as the kernel will hold it: UTF-8, no NULs, at most 15 bytes, never half a character."""
    raw = str(name).replace("\0", "").encode("utf-8", "replace")[:NAME_BYTES]
    return raw.decode("utf-8", "ignore").encode("utf-8")


def name_native_thread(name: str) -> None:
    """Give the calling thread the OS-level name `name` (cut to 15 bytes); does nothing where that is unsupported.

    Never raises: a thread that cannot be named works exactly as before. Also usable as a
    ThreadPoolExecutor `initializer` (with `initargs=(name,)`), which names each pool thread as it starts.
    """
    try:
        prctl = _prctl()
        if prctl is not None:
            prctl(PR_SET_NAME, native_name_bytes(name), 0, 0, 0)
    except Exception:  # noqa: BLE001 - a name is a courtesy to operators; nothing may fail for want of one
        pass
