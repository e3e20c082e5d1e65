"""Server-rendered SVG chart of an integration's recent runs: rows written and duration.

Plain SVG with <title> tooltips, so the page needs no JavaScript library and renders the same in a
screenshot, a text browser's fallback and a print-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

WIDTH = 760
PANEL_HEIGHT = 130
GAP = 34
LEFT = 56
RIGHT = 12
TOP = 22


@dataclass(frozen=True)
class RunPoint:
    started_at: datetime
    created: int
    updated: int
    duration_seconds: float | None
    status: str


def runs_chart(points: list[RunPoint]) -> Markup:
    """Two aligned panels, oldest run on the left: created/updated bars, then a duration line."""
    if not points:
        return Markup('<p class="muted">No finished runs yet.</p>')
    plot_width = WIDTH - LEFT - RIGHT
    slot = plot_width / len(points)
    bar_width = max(2.0, min(28.0, slot * 0.7))
    rows_top = TOP
    duration_top = TOP + PANEL_HEIGHT + GAP
    height = duration_top + PANEL_HEIGHT + 26

    max_rows = max(max(p.created + p.updated for p in points), 1)
    durations = [p.duration_seconds for p in points if p.duration_seconds is not None]
    max_duration = max(max(durations, default=0.0), 0.001)

    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="Rows created and updated per run, and run duration">',
        _panel_frame(rows_top, "Rows created / updated per run", _fmt_count(max_rows)),
        _panel_frame(duration_top, "Run duration", _fmt_seconds(max_duration)),
    ]
    line_points: list[str] = []
    for index, point in enumerate(points):
        center = LEFT + slot * index + slot / 2
        label = escape(f"{point.started_at:%Y-%m-%d %H:%M} UTC · {point.status}")
        created_h = PANEL_HEIGHT * point.created / max_rows
        updated_h = PANEL_HEIGHT * point.updated / max_rows
        base = rows_top + PANEL_HEIGHT
        x = center - bar_width / 2
        parts.append(
            f"<g><title>{label}: {point.created} created, {point.updated} updated</title>"
            f'<rect class="bar-created" x="{x:.1f}" y="{base - created_h:.1f}" '
            f'width="{bar_width:.1f}" height="{created_h:.1f}"/>'
            f'<rect class="bar-updated" x="{x:.1f}" y="{base - created_h - updated_h:.1f}" '
            f'width="{bar_width:.1f}" height="{updated_h:.1f}"/></g>'
        )
        if point.duration_seconds is not None:
            y = duration_top + PANEL_HEIGHT * (1 - point.duration_seconds / max_duration)
            line_points.append(f"{center:.1f},{y:.1f}")
            css = "dot-failed" if point.status == "failed" else "dot"
            parts.append(
                f'<circle class="{css}" cx="{center:.1f}" cy="{y:.1f}" r="3.5">'
                f"<title>{label}: {escape(_fmt_seconds(point.duration_seconds))}</title></circle>"
            )
    if len(line_points) > 1:
        parts.insert(3, f'<polyline class="line-duration" points="{" ".join(line_points)}"/>')
    first, last = points[0].started_at, points[-1].started_at
    axis_y = duration_top + PANEL_HEIGHT + 18
    parts.append(f'<text class="axis" x="{LEFT}" y="{axis_y}">{first:%d %b %H:%M}</text>')
    parts.append(
        f'<text class="axis" x="{WIDTH - RIGHT}" y="{axis_y}" text-anchor="end">{last:%d %b %H:%M}</text>'
    )
    legend_y = rows_top - 8
    parts.append(
        f'<g class="legend">'
        f'<rect class="bar-created" x="{WIDTH - 190}" y="{legend_y - 9}" width="10" height="10"/>'
        f'<text x="{WIDTH - 176}" y="{legend_y}">created</text>'
        f'<rect class="bar-updated" x="{WIDTH - 110}" y="{legend_y - 9}" width="10" height="10"/>'
        f'<text x="{WIDTH - 96}" y="{legend_y}">updated</text></g>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _panel_frame(top: float, title: str, max_label: str) -> str:
    bottom = top + PANEL_HEIGHT
    return (
        f'<text class="panel-title" x="{LEFT}" y="{top - 8}">{escape(title)}</text>'
        f'<line class="grid" x1="{LEFT}" y1="{top}" x2="{WIDTH - RIGHT}" y2="{top}"/>'
        f'<line class="grid" x1="{LEFT}" y1="{top + PANEL_HEIGHT / 2}" x2="{WIDTH - RIGHT}" '
        f'y2="{top + PANEL_HEIGHT / 2}"/>'
        f'<line class="baseline" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>'
        f'<text class="axis" x="{LEFT - 6}" y="{top + 4}" text-anchor="end">{escape(max_label)}</text>'
        f'<text class="axis" x="{LEFT - 6}" y="{bottom + 4}" text-anchor="end">0</text>'
    )


def _fmt_count(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return str(value)


def _fmt_seconds(value: float) -> str:
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.1f} min"
