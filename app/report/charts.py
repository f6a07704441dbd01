"""The report's charts, drawn with matplotlib: SVG text for the HTML report, PNG bytes for Slack.

Four charts, each a function of a `Report` (and the catalog's display names):
incidents per week by severity, the MTTA/MTTR trend, pages per person in and out of working hours,
and an hour-of-week heat map of pages.

Why it is built this way:
- No pyplot and no backend selection: a chart is a bare `matplotlib.figure.Figure` printed by
  `FigureCanvasAgg`/`FigureCanvasSVG`, so nothing is registered globally and no figure outlives its call.
- matplotlib is imported on first use, not at import: the text and JSON reports never pay for it, and the
  config directory is chosen (a temporary one when the home is not writable) just before matplotlib reads it.
- matplotlib's style lives in the process-wide `rcParams` and its artists are not thread-safe, so building and
  printing a chart happen under one lock inside `rc_context(_STYLE)`: a fixed size, dpi, font (the bundled
  DejaVu Sans), no TeX, and a fixed `svg.hashsalt`, so the same report gives byte-identical output.
- Every name in a chart came from a catalog or from Slack: it is data, never markup. `_plain` drops control
  characters, shortens it, and escapes `$` so that mathtext never parses it.
- Bounded work: at most `MAX_PEOPLE` bars and `MAX_WEEKS` weeks, and the title says what was left out.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from html import escape
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from app.report.model import PersonLoad, Report, WeekFigures

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_PEOPLE = 30  # bars in "pages per person"; the rest are summed up in the title
MAX_WEEKS = 104  # weeks drawn in the weekly charts; older ones are left out (and the title says so)
MAX_LABEL = 36  # characters of a name on an axis
WIDTH_IN = 9.0  # every chart is this wide (inches); heights are fixed per chart or grow with the bars drawn
PNG_DPI = 120  # 9 in -> 1080 px: sharp in Slack, small enough to upload

INCIDENTS = "incidents_by_week"
TREND = "ack_resolve_trend"
PEOPLE = "pages_per_person"
HEATMAP = "pages_by_hour"

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Most severe first: reds to blues, then greys for severities beyond the palette.
SEVERITY_COLOURS = ("#b2182b", "#e66101", "#fdb863", "#5e8ab4", "#2c7bb6", "#8c96a0", "#b8bec4", "#d5d9dc")
IN_HOURS_COLOUR = "#5e8ab4"
OUT_OF_HOURS_COLOUR = "#e66101"
ACK_COLOUR = "#e66101"
RESOLVE_COLOUR = "#2c7bb6"
INK = "#222222"
MUTED = "#666666"

_STYLE: dict[str, Any] = {
    "svg.hashsalt": "ladder-report",  # clip-path ids from a fixed salt, not uuid4: identical output per report
    "svg.fonttype": "path",  # glyphs as paths: the SVG needs no font from the viewer's machine
    "text.usetex": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # bundled with matplotlib: no system font is needed or looked for
    "font.size": 9.0,
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 10.0,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#999999",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "axes.grid": False,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelcolor": INK,
    "ytick.labelcolor": INK,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "path.simplify": True,
    "image.interpolation": "nearest",
}

_LOCK = threading.Lock()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class Labels:
    """Display names for the ids a report holds (from the catalog); an unknown id is shown as itself."""

    severities: Mapping[str, str] = field(default_factory=dict)
    teams: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, catalog: Any) -> "Labels":
        """The names a `Catalog` gives; None (no catalog at hand) shows ids."""
        if catalog is None:
            return cls()
        return cls(
            severities={s.id: s.label for s in catalog.severities},
            teams={team_id: team.name for team_id, team in catalog.teams.items()},
            services={service_id: service.name for service_id, service in catalog.services.items()},
        )

    def severity(self, severity_id: str) -> str:
        return self.severities.get(severity_id, severity_id)

    def team(self, team_id: str) -> str:
        return self.teams.get(team_id, team_id)

    def service(self, service_id: str) -> str:
        return self.services.get(service_id, service_id)


@dataclass(frozen=True)
class ChartSpec:
    key: str  # stable: the SVG's id prefix, a file name for the PNG
    title: str  # what the chart shows, for the SVG's <title> and alt texts
    caption: str  # how to read it, under the chart in the HTML report
    draw: Callable[["Figure", Report, Labels], str]  # draws into the figure, returns the title actually shown


@functools.cache
def _drawable() -> frozenset[int]:
    """The code points DejaVu Sans has a glyph for (read once from the bundled font file)."""
    _config_dir()
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"), fallback_to_default=True)
    return frozenset(FT2Font(path).get_charmap())


def _plain(text: object, limit: int = MAX_LABEL) -> str:
    """User-derived text made safe to draw: one line, at most `limit` characters, `$` never starting mathtext,
    and a character the font cannot draw (an emoji) shown as U+FFFD rather than warned about on every chart."""
    one_line = _CONTROL.sub(" ", unicodedata.normalize("NFC", str(text))).strip()
    drawable = _drawable()
    one_line = "".join(c if ord(c) in drawable or c == " " else "\ufffd" for c in one_line)
    if len(one_line) > limit:
        one_line = one_line[: limit - 1].rstrip() + "\u2026"
    return one_line.replace("$", r"\$")


def severity_order(report: Report) -> list[str]:
    """The catalog's order (most severe first), then any severity only the weeks name, alphabetically."""
    seen = [s for s in report.severities]
    extra = sorted({s for week in report.weeks for s in week.incidents_by_severity} - set(seen))
    return seen + extra


def _weeks(report: Report) -> tuple[list[WeekFigures], int]:
    """The weeks to draw (oldest first, at most MAX_WEEKS, the most recent kept) and how many were left out."""
    weeks = sorted(report.weeks, key=lambda w: w.week_start)
    return weeks[-MAX_WEEKS:], max(0, len(weeks) - MAX_WEEKS)


def _week_ticks(ax: "Axes", starts: Sequence[date]) -> None:
    """At most ~13 labels ("6 Oct"), the year under the first one and under the first week of each year."""
    step = max(1, math.ceil(len(starts) / 13))
    positions = list(range(0, len(starts), step))
    labels = []
    previous_year = None
    for index in positions:
        day = starts[index]
        label = f"{day.day} {day:%b}"
        if day.year != previous_year:
            label += f"\n{day.year}"
            previous_year = day.year
        labels.append(label)
    ax.set_xticks(positions, labels=labels)
    ax.set_xlim(-0.6, len(starts) - 0.4)


def _title(fig: "Figure", title: str) -> None:
    """Every chart's title in the same place: the figure's top left, above legends and axis labels."""
    fig.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold", color=INK)


def _nothing(fig: "Figure", title: str, message: str) -> str:
    """A chart with nothing to draw still says what it would show and why it is empty."""
    ax = fig.add_subplot()
    ax.set_axis_off()
    _title(fig, title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color=MUTED, transform=ax.transAxes)
    return title


def _left_out(title: str, count: int, what: str) -> str:
    return f"{title} (last {MAX_WEEKS} weeks; {count} earlier {what} not shown)" if count else title


def draw_incidents_by_week(fig: "Figure", report: Report, labels: Labels) -> str:
    title = "Incidents per week by severity"
    weeks, left_out = _weeks(report)
    if not any(sum(w.incidents_by_severity.values()) for w in weeks):
        return _nothing(fig, title, "no incidents in this period")
    title = _left_out(title, left_out, "weeks")
    ax = fig.add_subplot()
    x = list(range(len(weeks)))
    bottom = [0] * len(weeks)
    for index, severity in enumerate(severity_order(report)):
        counts = [w.incidents_by_severity.get(severity, 0) for w in weeks]
        if not any(counts):
            continue
        colour = SEVERITY_COLOURS[min(index, len(SEVERITY_COLOURS) - 1)]
        ax.bar(x, counts, bottom=bottom, width=0.78, color=colour, label=_plain(labels.severity(severity), 24), linewidth=0)
        bottom = [b + c for b, c in zip(bottom, counts)]
    _week_ticks(ax, [w.week_start for w in weeks])
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y")
    ax.set_ylabel("incidents")
    ax.set_xlabel("week starting (Monday, UTC)", color=MUTED)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="severity", title_fontsize=8.5, alignment="left")
    _title(fig, title)
    return title


def _unit(seconds: Sequence[float]) -> tuple[float, str]:
    """Seconds, minutes or hours, whichever keeps the largest value readable."""
    largest = max(seconds, default=0.0)
    if largest < 120:
        return 1.0, "seconds"
    if largest < 3 * 3600:
        return 60.0, "minutes"
    return 3600.0, "hours"


def draw_trend(fig: "Figure", report: Report, labels: Labels) -> str:
    title = "Time to acknowledge and to resolve, median per week"
    weeks, left_out = _weeks(report)
    series = (
        ("time to acknowledge (MTTA, p50)", [w.time_to_ack_p50_s for w in weeks], ACK_COLOUR),
        ("time to resolve (MTTR, p50)", [w.time_to_resolve_p50_s for w in weeks], RESOLVE_COLOUR),
    )
    if all(value is None for _, values, _ in series for value in values):
        return _nothing(fig, title, "no acknowledged or resolved incidents in this period")
    title = _left_out(title, left_out, "weeks")
    axes = fig.subplots(2, 1, sharex=True)
    x = list(range(len(weeks)))
    for ax, (name, values, colour) in zip(axes, series):
        present = [float(v) for v in values if v is not None]
        scale, unit = _unit(present)
        y = [float("nan") if v is None else v / scale for v in values]
        ax.plot(x, y, color=colour, linewidth=1.8, marker="o", markersize=3.5)
        ax.set_ylim(bottom=0, top=(max(present) / scale * 1.15) if present and max(present) > 0 else 1)
        ax.set_ylabel(unit)
        ax.grid(axis="y")
        ax.text(0.0, 1.02, name if present else f"{name}: none in this period", transform=ax.transAxes, fontsize=9, color=colour, fontweight="bold", va="bottom")
    _week_ticks(axes[1], [w.week_start for w in weeks])
    axes[1].set_xlabel("week starting (Monday, UTC)", color=MUTED)
    _title(fig, title)
    return title


def _person_label(person: PersonLoad, labels: Labels) -> str:
    return f"{_plain(person.person, 28)} \u00b7 {_plain(labels.team(person.team), 18)}"


def draw_people(fig: "Figure", report: Report, labels: Labels) -> str:
    title = "Pages per person, within and outside working hours"
    paged = [p for p in report.people if p.pages > 0]
    if not paged:
        return _nothing(fig, title, "no pages in this period")
    ranked = sorted(paged, key=lambda p: (-p.pages, -p.outside_working_hours, p.team, p.person))
    shown = ranked[:MAX_PEOPLE]
    if len(ranked) > MAX_PEOPLE:
        title = f"{title} (top {MAX_PEOPLE} of {len(ranked)} people by pages)"
    ax = fig.add_subplot()
    y = list(range(len(shown)))
    outside = [min(p.outside_working_hours, p.pages) for p in shown]
    within = [p.pages - o for p, o in zip(shown, outside)]
    ax.barh(y, within, color=IN_HOURS_COLOUR, height=0.72, label="within working hours", linewidth=0)
    ax.barh(y, outside, left=within, color=OUT_OF_HOURS_COLOUR, height=0.72, label="outside working hours", linewidth=0)
    ax.set_yticks(y, labels=[_person_label(p, labels) for p in shown])
    ax.set_ylim(len(shown) - 0.4, -0.6)  # the most paged on top
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="x")
    ax.set_xlabel("pages")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)
    _title(fig, title)
    return title


def _hour_matrix(report: Report) -> list[list[int]]:
    """7 x 24 whatever the report holds (a short or ragged matrix is padded with zeros, never indexed past)."""
    rows = list(report.pages_by_hour_of_week)[:7]
    matrix = [[int(v) for v in list(row)[:24]] for row in rows]
    matrix = [row + [0] * (24 - len(row)) for row in matrix]
    return matrix + [[0] * 24 for _ in range(7 - len(matrix))]


def draw_heatmap(fig: "Figure", report: Report, labels: Labels) -> str:
    title = "Pages by hour of the week (UTC)"
    matrix = _hour_matrix(report)
    largest = max(max(row) for row in matrix)
    if largest <= 0:
        return _nothing(fig, title, "no pages in this period")
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(matrix, cmap="YlOrRd", vmin=0, vmax=largest, edgecolors="white", linewidth=0.8)
    ax.set_xticks([h + 0.5 for h in range(24)], labels=[f"{h:02d}" for h in range(24)])
    ax.set_xlabel("hour (UTC)", color=MUTED)
    ax.set_yticks([d + 0.5 for d in range(7)], labels=list(WEEKDAYS))
    ax.set_ylim(7, 0)  # Monday on top
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if largest < 1000:
        for day, row in enumerate(matrix):
            for hour, count in enumerate(row):
                if count:
                    dark = count > largest * 0.55
                    ax.text(hour + 0.5, day + 0.5, str(count), ha="center", va="center", fontsize=7, color="white" if dark else INK, in_layout=False)
    colourbar = fig.colorbar(mesh, ax=ax, fraction=0.03, pad=0.02)
    colourbar.set_label("pages")
    colourbar.outline.set_visible(False)
    colourbar.solids.set_rasterized(False)  # vector, like the rest: no embedded bitmap in the SVG
    colourbar.solids.set_edgecolor("face")  # no hairlines between the gradient's steps
    from matplotlib.ticker import MaxNLocator

    colourbar.locator = MaxNLocator(nbins=5, integer=True)
    _title(fig, title)
    return title


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        INCIDENTS,
        "Incidents per week by severity",
        "Incidents declared each week, stacked by severity (most severe at the bottom).",
        draw_incidents_by_week,
    ),
    ChartSpec(
        TREND,
        "Time to acknowledge and to resolve, median per week",
        "The median (p50) over the incidents declared that week; a gap is a week with none acknowledged or resolved.",
        draw_trend,
    ),
    ChartSpec(
        PEOPLE,
        "Pages per person, within and outside working hours",
        "Pages to each person, split by their team's working hours (in the team's zone); most paged on top.",
        draw_people,
    ),
    ChartSpec(
        HEATMAP,
        "Pages by hour of the week (UTC)",
        "Each cell counts the pages sent in that hour of the week, in UTC; darker is more.",
        draw_heatmap,
    ),
)
_BY_KEY = {spec.key: spec for spec in CHARTS}


def _height(key: str, report: Report) -> float:
    if key == PEOPLE:
        bars = min(MAX_PEOPLE, sum(1 for p in report.people if p.pages > 0))
        return min(10.0, max(3.0, 1.3 + 0.27 * bars))
    if key == TREND:
        return 4.6
    return 3.8


def _config_dir() -> None:
    """Give matplotlib a writable config/cache directory before it is first imported (its font cache lives there)."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    wanted = os.path.join(base, "matplotlib")
    probe = wanted if os.path.isdir(wanted) else base
    if not (os.path.isdir(probe) and os.access(probe, os.W_OK)):
        os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="ladder-matplotlib-")


def _render(key: str, report: Report, labels: Labels | None, fmt: str) -> tuple[bytes, str]:
    """The chart `key` printed as `fmt` ("png" or "svg"), and the title it shows."""
    spec = _BY_KEY[key]
    with _LOCK:
        _config_dir()
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure

        with matplotlib.rc_context(_STYLE):
            fig = Figure(figsize=(WIDTH_IN, _height(key, report)), dpi=PNG_DPI if fmt == "png" else 72, layout="constrained")
            shown = spec.draw(fig, report, labels or Labels())
            out = io.BytesIO()
            if fmt == "png":
                FigureCanvasAgg(fig).print_png(out, metadata={"Software": None})
            else:
                FigureCanvasSVG(fig).print_svg(out, metadata={"Date": None, "Creator": None})
            return out.getvalue(), shown


def png(key: str, report: Report, labels: Labels | None = None) -> bytes:
    """The chart as PNG bytes (for Slack): fixed width and dpi, so the same report gives the same bytes."""
    data, _ = _render(key, report, labels, "png")
    return data


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(xlink:href="#|href="#|url\(#)([^")]+)')


def svg(key: str, report: Report, labels: Labels | None = None) -> str:
    """The chart as an <svg> element to inline in HTML.

    No XML prolog or doctype, no comments (matplotlib writes each drawn string into one), every id prefixed with
    the chart's key (four inline SVGs share one id space; their glyph ids would collide), and an accessible name:
    role="img" with a <title>.
    """
    data, shown = _render(key, report, labels, "svg")
    text = data.decode("utf-8")
    text = text[text.index("<svg") :]
    text = re.sub(r"<!--.*?-->\s*", "", text, flags=re.S)
    text = _ID.sub(lambda m: f'id="{key}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}", text)
    head_end = text.index(">") + 1
    head = text[:head_end].replace("<svg ", f'<svg role="img" aria-labelledby="{key}-title" ', 1)
    title = f'<title id="{key}-title">{escape(shown)}</title>'
    return head + title + text[head_end:]
