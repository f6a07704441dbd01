"""What the benchmarks share."""

from __future__ import annotations


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank (the benchmarks report p50, p90 and p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def provenance() -> dict[str, object]:
    """Which code a figure was measured on: the commit, and any app/ files changed but not yet committed (others may be at work)."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "app_uncommitted": [line[3:] for line in git("status", "--porcelain", "app").splitlines()]}
