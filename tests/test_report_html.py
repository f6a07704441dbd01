"""The HTML report (app/report/html.py): one self-contained, escaped file, checked as text and then opened in a
real headless browser (Debian's Chromium through Selenium): it renders, every chart is there and drawn, the console
stays clean, nothing is fetched, and a screenshot is kept (test-artifacts/report.png).

Where no browser is installed the browser tests are skipped with the reason shown (`-ra` lists it), never passed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from app.catalog.loader import load_catalog
from app.report import charts, html
from app.report.model import Report
from tests.test_report_charts import empty_report, sample_report

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACT = ROOT / "test-artifacts" / "report.png"
WIDTH = 1280

HOSTILE_TEAM = "<script>alert(1)</script>"


def catalog() -> Any:
    return load_catalog(ROOT / "tests" / "catalog.yaml")


def hostile_report() -> Report:
    report = sample_report(team_names=(HOSTILE_TEAM, 'x" onmouseover="alert(2)'), person_names=["<img src=x onerror=alert(3)>", "U02", "$x^2$ & co"])
    return replace(report, team=HOSTILE_TEAM, service="<b>svc</b>")


class _Outline(HTMLParser):
    """What a parser sees: elements, attributes, text (to check escaping without trusting string searches)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((tag, name, value) for name, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def outline(document: str) -> _Outline:
    parser = _Outline()
    parser.feed(document)
    parser.close()
    return parser


# --- the document as text -------------------------------------------------------------------------------------


def test_the_document_has_the_accessible_basics() -> None:
    document = html.render(sample_report(), catalog())
    assert document.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    seen = outline(document)
    assert seen.tags.count("title") == 1 + len(charts.CHARTS)  # the page's and one per chart
    assert seen.tags.count("h1") == 1 and seen.tags.count("h2") == 5
    assert seen.tags.count("svg") == len(charts.CHARTS)
    assert seen.tags.count("table") == 4 and seen.tags.count("caption") == 4
    assert all(value in ("col", "colgroup", "row") for tag, name, value in seen.attributes if name == "scope")
    assert "28 Sep 2026 00:00 \u2013 9 Nov 2026 00:00 UTC" in document
    # names from the catalog, not ids
    assert "Payments" in document and "Card payments" in document and "SEV1 · Critical" in document


def test_the_figures_are_in_the_tables() -> None:
    report = sample_report()
    text = " ".join(outline(html.render(report, catalog())).text)
    assert "4m" in text and "15m" in text and "30m" in text  # MTTA p50/p90/max of the first group: 240, 900, 1800 s
    assert "2h 00m" in text and "8h 20m" in text  # its MTTR p50 and max: 7200, 30000 s
    assert "75%" in text  # level 1: 30 of 40 acknowledged
    for week in report.weeks:
        assert week.week_start.isoformat() in text
    for person in report.people:
        assert person.person in text


def test_durations_read_like_people_say_them() -> None:
    assert [html.duration(s) for s in (None, 0, 45, 60, 270, 3600, 7500, 86400 + 4 * 3600)] == [
        "\u2014", "0s", "45s", "1m", "4m 30s", "1h 00m", "2h 05m", "1d 4h",
    ]


def test_filters_are_in_the_title_and_header() -> None:
    report = replace(sample_report(), team="payments", service="card-payments")
    document = html.render(report, catalog())
    assert re.search(r"<title>Ladder report: [^<]* \(Payments · Card payments\)</title>", document)
    assert "Team: <strong>Payments</strong>" in document and "Service: <strong>Card payments</strong>" in document


def test_an_empty_period_says_no_incidents_and_still_draws_every_chart() -> None:
    document = html.render(empty_report(), None)
    assert "No incidents between 5 Oct 2026 00:00 and 12 Oct 2026 00:00 UTC." in document
    assert document.count("<svg ") == len(charts.CHARTS)


def test_every_name_is_escaped_text() -> None:
    document = html.render(hostile_report(), None)
    seen = outline(document)
    assert "script" not in seen.tags and "img" not in seen.tags and "b" not in seen.tags
    assert not any(name.startswith("on") for _, name, _ in seen.attributes)
    text = " ".join(seen.text)
    assert HOSTILE_TEAM in text and "<img src=x onerror=alert(3)>" in text and "$x^2$ & co" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document


def test_the_file_is_self_contained() -> None:
    document = html.render(sample_report(), catalog())
    assert "http://" not in document.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
    ).replace("http://purl.org/dc/", "").replace("http://creativecommons.org/ns#", "").replace(
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#", ""
    )
    assert "https://" not in document
    assert not re.search(r"\bsrc\s*=", document)
    assert "<script" not in document and "<link" not in document and "@import" not in document
    seen = outline(document)
    for _, name, value in seen.attributes:
        if name in ("href", "xlink:href"):
            assert value is not None and value.startswith("#"), value  # only references within the file
    ids = [value for _, name, value in seen.attributes if name == "id"]
    assert len(ids) == len(set(ids)), "four inline SVGs share one id space"


def test_rendering_is_deterministic() -> None:
    assert html.render(sample_report(), catalog()) == html.render(sample_report(), catalog())


# --- the document in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not (p.is_file() and p.stat().st_mode & 0o111)]
    if missing:
        pytest.skip(f"no headless browser here: {', '.join(missing)} missing (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.selenium_manager import SeleniumManager
    except ImportError as missing_selenium:  # pragma: no cover - selenium is a test dependency
        pytest.skip(f"selenium is not installed: {missing_selenium}")

    def no_downloads(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Selenium Manager was asked for a driver or browser; it must never download one")

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={WIDTH},900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")
        patch.setattr(SeleniumManager, "binary_paths", no_downloads)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.set_page_load_timeout(60)
            yield driver
        finally:
            driver.quit()


def _open(driver: Any, path: Path) -> list[dict[str, Any]]:
    """Load the file and return what the console said while it loaded (the log is drained first)."""
    driver.get_log("browser")
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def _save_screenshot(driver: Any, target: Path) -> bytes:
    """The whole page, not only the window: the window is made as tall as the document first."""
    height = int(driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)"))
    driver.set_window_size(WIDTH, min(max(height, 600), 16000))
    inner = int(driver.execute_script("return window.innerHeight"))
    if inner < height:  # the window's frame takes some height: grow it by what is missing
        driver.set_window_size(WIDTH, min(max(height, 600), 16000) + height - inner)
    png = driver.get_screenshot_as_png()
    target.write_bytes(png)
    return png


def test_the_report_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    page.write_text(html.render(sample_report(), catalog()), encoding="utf-8")
    errors = _open(browser, page)
    assert errors == [], errors

    assert browser.title.startswith("Ladder report: 28 Sep 2026")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Incidents and on-call load"
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings == ["Charts", "By team, service and severity", "The ladder's responsiveness", "On-call load and fairness", "Trends by week"]
    tables = browser.find_elements(By.TAG_NAME, "table")
    assert len(tables) == 4
    for table in tables:
        assert table.find_elements(By.CSS_SELECTOR, "thead th") and table.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert table.size["height"] > 40
    assert "Card payments" in tables[0].text and "SEV1 · Critical" in tables[0].text

    figures = browser.find_elements(By.CSS_SELECTOR, "figure.chart")
    assert [f.get_attribute("id") for f in figures] == [f"chart-{spec.key}" for spec in charts.CHARTS]
    for figure in figures:
        svg = figure.find_element(By.TAG_NAME, "svg")
        box = browser.execute_script("const b = arguments[0].getBBox(); return [b.width, b.height]", svg)
        assert box[0] > 100 and box[1] > 100, (figure.get_attribute("id"), box)
        assert svg.size["width"] > 600 and svg.size["height"] > 200, svg.size
        # shapes drawn with a real size (glyph outlines in <defs> are not counted)
        shapes = browser.execute_script(
            "return [...arguments[0].querySelectorAll('path, rect, use')]"
            ".filter(e => !e.closest('defs'))"
            ".filter(e => { const r = e.getBoundingClientRect(); return r.width * r.height > 0; }).length",
            svg,
        )
        assert shapes > 50, (figure.get_attribute("id"), shapes)
        # the chart sits inside its frame (nothing cut off or spilling over)
        inside = browser.execute_script(
            "const f = arguments[0].getBoundingClientRect(), s = arguments[1].getBoundingClientRect();"
            "return s.left >= f.left && s.right <= f.right && s.top >= f.top && s.bottom <= f.bottom",
            figure,
            svg,
        )
        assert inside, figure.get_attribute("id")

    # one file: the browser fetched nothing for it, and nothing runs in it
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return document.scripts.length") == 0
    # nothing wider than the window: no horizontal scrolling at 1280 px
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")

    png = _save_screenshot(browser, tmp_path / "report.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(tmp_path / "report.png", ARTIFACT)
    assert errors == [] and _severe(browser) == []


def _severe(driver: Any) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def test_a_console_error_would_be_caught(browser: Any, tmp_path: Path) -> None:
    """The clean-console check can fail: a page that logs an error is seen doing so."""
    page = tmp_path / "noisy.html"
    page.write_text("<!DOCTYPE html><html lang=en><title>t</title><script>console.error('deliberate')</script></html>")
    errors = _open(browser, page)
    assert any("deliberate" in entry.get("message", "") for entry in errors), errors


def test_hostile_names_render_as_text_in_chromium(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "hostile.html"
    page.write_text(html.render(hostile_report(), None), encoding="utf-8")
    errors = _open(browser, page)  # an alert() would make every later call raise UnexpectedAlertPresentException
    assert errors == []
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('img, b').length") == 0
    body = browser.find_element(By.TAG_NAME, "body").text
    assert HOSTILE_TEAM in body and "<img src=x onerror=alert(3)>" in body
    assert HOSTILE_TEAM in browser.title


def test_an_empty_report_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "empty.html"
    page.write_text(html.render(empty_report(), None), encoding="utf-8")
    assert _open(browser, page) == []
    assert "No incidents between" in browser.find_element(By.TAG_NAME, "header").text
    for svg in browser.find_elements(By.CSS_SELECTOR, "figure.chart svg"):
        assert svg.size["width"] > 600 and svg.size["height"] > 200


def test_a_big_report_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    """52 weeks and 200 people: the page stays within the window's width and the charts within their frames."""
    page = tmp_path / "big.html"
    report = replace(sample_report(weeks=52, people=200), since=datetime(2025, 11, 10, tzinfo=timezone.utc))
    page.write_text(html.render(report, catalog()), encoding="utf-8")
    assert _open(browser, page) == []
    assert browser.execute_script("return document.querySelectorAll('tbody tr').length") >= 200 + 52
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
