"""The report's charts (app/report/charts.py): real PNG and SVG, identical for the same report, drawn for empty
data, hostile names and big inputs without failing, and never reading a name as markup or math."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.report import charts
from app.report.model import GroupFigures, LevelFigures, PersonLoad, Report, Spread, WeekFigures

ROOT = Path(__file__).resolve().parent.parent
SVG_NS = "{http://www.w3.org/2000/svg}"
KEYS = [spec.key for spec in charts.CHARTS]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sample_report(
    weeks: int = 6,
    people: int = 8,
    seed: int = 7,
    team_names: tuple[str, str] = ("payments", "identity"),
    person_names: list[str] | None = None,
) -> Report:
    """A plausible six-week report built by hand (the figures' computation is tested elsewhere)."""
    rnd = random.Random(seed)
    severities = ["sev1", "sev2", "sev3"]
    start = date(2026, 9, 28)
    week_rows = [
        WeekFigures(
            week_start=start + timedelta(weeks=i),
            incidents_by_severity={s: rnd.randint(0, 5) for s in severities},
            time_to_ack_p50_s=None if i == 2 else rnd.randint(60, 900),
            time_to_resolve_p50_s=rnd.randint(1800, 20000),
            pages=rnd.randint(5, 40),
        )
        for i in range(weeks)
    ]
    names = person_names or [f"U0{i:05d}X" for i in range(people)]
    loads = []
    for i, name in enumerate(names):
        pages = rnd.randint(1, 40)
        outside = rnd.randint(0, pages)
        loads.append(PersonLoad(name, team_names[i % 2], pages, outside, outside // 2, outside // 3, 1 / len(names), 1 / len(names)))
    hours = [[rnd.choice([0, 0, 0, 1, 2, 4, 7]) for _ in range(24)] for _ in range(7)]
    spread = Spread(10, 240, 900, 1800)
    groups = [
        GroupFigures(team_names[0], "card-payments", "sev1", 10, spread, Spread(10, 7200, 14000, 30000), Spread(3, 600, 900, 900), Spread(0, None, None, None)),
        GroupFigures(team_names[1], "login", "sev2", 4, Spread(4, 45, 70, 80), Spread(3, 3000, 4000, 4100), Spread(0, None, None, None), Spread(1, 300, 300, 300)),
    ]
    levels = [LevelFigures("payments", 1, 40, 30, 10, 0, 2), LevelFigures("payments", 2, 10, 8, 1, 1, 0)]
    return Report(
        since=datetime(2026, 9, 28, tzinfo=timezone.utc),
        until=datetime(2026, 11, 9, tzinfo=timezone.utc),
        team=None,
        service=None,
        incidents=sum(sum(w.incidents_by_severity.values()) for w in week_rows),
        groups=groups,
        levels=levels,
        people=loads,
        weeks=week_rows,
        pages_by_hour_of_week=hours,
        severities=severities,
    )


def empty_report() -> Report:
    since = datetime(2026, 10, 5, tzinfo=timezone.utc)
    return Report(since, since + timedelta(days=7), None, None, 0, [], [], [], [WeekFigures(date(2026, 10, 5), {}, None, None, 0)])


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_root(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG_NS}svg"
    return root


def drawn(root: ET.Element) -> int:
    """Paths drawn on the canvas (glyph outlines live in <defs> and are only referenced)."""
    in_defs = {id(p) for d in root.iter(f"{SVG_NS}defs") for p in d.iter(f"{SVG_NS}path")}
    return sum(1 for p in root.iter(f"{SVG_NS}path") if id(p) not in in_defs and p.get("d"))


@pytest.mark.parametrize("key", KEYS)
def test_each_chart_is_a_real_png_of_a_fixed_size(key: str) -> None:
    data = charts.png(key, sample_report())
    width, height = png_size(data)
    assert width == int(charts.WIDTH_IN * charts.PNG_DPI)
    assert 300 <= height <= 1300
    assert 10_000 < len(data) < 1_000_000
    assert data.endswith(b"IEND\xaeB`\x82")


@pytest.mark.parametrize("key", KEYS)
def test_each_chart_is_an_svg_element_with_a_title_and_drawn_shapes(key: str) -> None:
    text = charts.svg(key, sample_report())
    assert text.startswith("<svg ") and text.rstrip().endswith("</svg>")
    assert "<?xml" not in text and "<!DOCTYPE" not in text and "<!--" not in text
    root = svg_root(text)
    assert root.get("role") == "img"
    title = root.find(f"{SVG_NS}title")
    assert title is not None and title.text and title.get("id") == root.get("aria-labelledby")
    # an empty chart of the same kind draws a handful of shapes (the background); a real one draws many more
    assert drawn(root) > drawn(svg_root(charts.svg(key, empty_report()))) + 5


@pytest.mark.parametrize("key", KEYS)
def test_ids_are_prefixed_by_the_chart_and_every_reference_resolves(key: str) -> None:
    text = charts.svg(key, sample_report())
    root = svg_root(text)
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert ids and all(i.startswith(f"{key}-") for i in ids)
    assert len(ids) == len(set(ids))
    references = {v[1:] for e in root.iter() for a, v in e.attrib.items() if a.endswith("href") and v.startswith("#")}
    references |= {v.split("url(#", 1)[1].split(")", 1)[0] for e in root.iter() for v in e.attrib.values() if "url(#" in v}
    assert references and references <= set(ids)


@pytest.mark.parametrize("key", KEYS)
def test_the_same_report_gives_the_same_bytes(key: str) -> None:
    report = sample_report()
    assert charts.png(key, report) == charts.png(key, report)
    assert charts.svg(key, report) == charts.svg(key, report)
    assert charts.svg(key, report) != charts.svg(key, sample_report(seed=8))  # and the output does depend on the data


def test_svg_output_is_the_same_in_another_process() -> None:
    """No random ids or dates: a fixed hash salt, no Date metadata (a uuid4 salt would differ per process)."""
    script = (
        "import sys; sys.path.insert(0, '.');"
        "from tests.test_report_charts import sample_report; from app.report import charts;"
        "sys.stdout.write(charts.svg(charts.PEOPLE, sample_report()))"
    )
    other = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert other.stdout == charts.svg(charts.PEOPLE, sample_report())


@pytest.mark.parametrize("key", KEYS)
def test_empty_data_draws_a_chart_that_says_so(key: str) -> None:
    text = charts.svg(key, empty_report())
    title = svg_root(text).find(f"{SVG_NS}title")
    assert title is not None and title.text
    assert png_size(charts.png(key, empty_report()))[0] == int(charts.WIDTH_IN * charts.PNG_DPI)


def test_the_empty_message_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the empty charts say (the SVG draws glyphs as paths, so the text is checked where it is made)."""
    from matplotlib.figure import Figure

    said: dict[str, str] = {}
    for spec in charts.CHARTS:
        fig = Figure()
        spec.draw(fig, empty_report(), charts.Labels())
        said[spec.key] = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text())
    assert "no pages in this period" in said[charts.PEOPLE]
    assert "no pages in this period" in said[charts.HEATMAP]
    assert "no incidents in this period" in said[charts.INCIDENTS]
    assert "no acknowledged or resolved incidents in this period" in said[charts.TREND]


HOSTILE = [
    "$x^2$",
    "a$b$c",
    r"\$ price \$",
    "$",
    "<script>alert(1)</script>",
    "x]]>--><!--",
    "&amp; & \" '",
    "line\nbreak\ttab\x00nul\x1b[31m",
    "\u202eevil\u2028",
    "é" * 400,
    "🙂 emoji",
    r"\frac{1}{2} $\alpha$",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_drawn_as_plain_text(name: str) -> None:
    report = sample_report(team_names=(name, name + "2"), person_names=[name, "U02", name * 3])
    report.severities.append(name)  # a severity the catalog names with a hostile label
    report.weeks[0].incidents_by_severity[name] = 2
    labels = charts.Labels(severities={name: name}, teams={name: name})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a "glyph missing" warning: such characters are replaced
        for key in KEYS:
            root = svg_root(charts.svg(key, report, labels))  # parses: nothing from the name broke the XML
            assert drawn(root) > 5
        assert png_size(charts.png(charts.PEOPLE, report, labels))[0] > 0


def test_a_dollar_in_a_name_never_starts_mathtext() -> None:
    from matplotlib import cbook
    from matplotlib.figure import Figure

    for name in ("$x^2$", "a $b$ c", r"\$ $y$", "$$"):
        plain = charts._plain(name)
        assert not cbook.is_math_text(plain), plain
        fig = Figure()
        report = sample_report(person_names=[name, "U02"])
        charts.draw_people(fig, report, charts.Labels())
        fig.canvas.draw()  # tick labels exist once drawn
        shown = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
        assert any(t.startswith(charts._plain(name, 28)) for t in shown)
        assert not any(cbook.is_math_text(t) for t in shown)


def test_names_are_one_line_and_shortened() -> None:
    assert charts._plain("a\nb\x00c\td") == "a b c d"
    long = charts._plain("x" * 500)
    assert len(long) == charts.MAX_LABEL and long.endswith("\u2026")
    assert charts._plain("$5") == r"\$5"


def test_two_hundred_people_draw_the_top_thirty_in_bounded_time() -> None:
    report = sample_report(people=200)
    started = time.perf_counter()
    text = charts.svg(charts.PEOPLE, report)
    data = charts.png(charts.PEOPLE, report)
    elapsed = time.perf_counter() - started
    title = svg_root(text).find(f"{SVG_NS}title")
    assert title is not None and f"top {charts.MAX_PEOPLE} of 200 people by pages" in (title.text or "")
    assert png_size(data)[1] <= 10 * charts.PNG_DPI
    assert elapsed < 20, elapsed


def test_fifty_two_weeks_and_more_are_bounded() -> None:
    report = sample_report(weeks=52)
    started = time.perf_counter()
    for key in KEYS:
        svg_root(charts.svg(key, report))
    assert time.perf_counter() - started < 30
    long = sample_report(weeks=charts.MAX_WEEKS + 20)
    title = svg_root(charts.svg(charts.INCIDENTS, long)).find(f"{SVG_NS}title")
    assert title is not None and "20 earlier weeks not shown" in (title.text or "")


def test_a_malformed_hour_matrix_is_padded_not_indexed_past() -> None:
    report = sample_report()
    short = Report(**{**report.__dict__, "pages_by_hour_of_week": [[1, 2, 3], [4]]})
    svg_root(charts.svg(charts.HEATMAP, short))
    assert charts._hour_matrix(short)[0][:4] == [1, 2, 3, 0] and len(charts._hour_matrix(short)) == 7


def test_severities_keep_the_catalog_order_and_unknown_ones_follow() -> None:
    report = sample_report()
    report.weeks[0].incidents_by_severity["aaa-unknown"] = 1
    assert charts.severity_order(report) == ["sev1", "sev2", "sev3", "aaa-unknown"]


def test_labels_come_from_a_real_catalog() -> None:
    from app.catalog.loader import load_catalog

    labels = charts.Labels.of(load_catalog(ROOT / "tests" / "catalog.yaml"))
    assert labels.team("payments") == "Payments"
    assert labels.service("card-payments") == "Card payments"
    assert labels.severity("sev1").startswith("SEV1")
    assert labels.team("gone") == "gone"


def test_importing_the_module_does_not_import_matplotlib_and_drawing_never_imports_pyplot() -> None:
    script = (
        "import sys; import app.report.charts as c, app.report.html;"
        "print('matplotlib' in sys.modules);"
        "sys.path.insert(0, '.'); from tests.test_report_charts import sample_report;"
        "[c.png(k, sample_report()) + c.svg(k, sample_report()).encode() for k in (c.INCIDENTS, c.HEATMAP)];"
        "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "True", "False"]


def test_charts_leave_the_global_style_as_it_was() -> None:
    import matplotlib

    before = dict(matplotlib.rcParams)
    charts.png(charts.INCIDENTS, sample_report())
    charts.svg(charts.HEATMAP, sample_report())
    assert dict(matplotlib.rcParams) == before


def test_concurrent_renders_give_the_same_bytes() -> None:
    from concurrent.futures import ThreadPoolExecutor

    report = sample_report()
    expected = {key: charts.png(key, report) for key in KEYS}
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda key: (key, charts.png(key, report)), KEYS * 2))
    assert all(data == expected[key] for key, data in results)
