"""The database's text form of an instant, against the strftime/strptime definition it replaced."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from app.store.times import iso, parse_iso

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
ZONES = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@settings(max_examples=200, deadline=None, database=None)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)), ZONES)
def test_iso_is_the_fixed_width_utc_text_and_parse_iso_reads_it_back(local: datetime, zone: timezone) -> None:
    moment = local.replace(tzinfo=zone)
    text = iso(moment)
    assert text == moment.astimezone(timezone.utc).strftime(FORMAT)
    assert parse_iso(text) == moment and parse_iso(text).tzinfo == timezone.utc  # type: ignore[union-attr]


def test_a_naive_instant_is_utc_and_nothing_parses_to_none() -> None:
    assert iso(datetime(2026, 11, 23, 10, 0)) == "2026-11-23T10:00:00.000000Z"
    assert parse_iso(None) is None and parse_iso("") is None
