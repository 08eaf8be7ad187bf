"""The usage page's chart: requests per day as an inline SVG of stacked bars, pure Python.

No chart library and no script: the server draws it, so the page works without a build
step and reads the same on a phone (the SVG scales with its viewBox).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

PALETTE = ("#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d")


def series_color(index: int) -> str:
    """The colour of the ``index``-th key, shared by the bars and the legend."""
    return PALETTE[index % len(PALETTE)]


def stacked_bars_svg(
    days: Sequence[date], series: Mapping[str, Mapping[date, int]], width: int = 720, height: int = 240
) -> str:
    """An SVG with one bar per day, stacked by series (key), with a y-axis maximum label."""
    pad_left, pad_bottom, pad_top = 40, 24, 12
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    totals = [sum(values.get(day, 0) for values in series.values()) for day in days]
    peak = max(totals, default=0) or 1
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Requests per key per day" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 8}" y2="{pad_top + plot_h}" '
        'stroke="#94a3b8"/>',
        f'<text x="{pad_left - 6}" y="{pad_top + 10}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{pad_left - 6}" y="{pad_top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, day in enumerate(days):
        x = pad_left + i * slot + (slot - bar_w) / 2
        y = pad_top + plot_h
        for index, (name, values) in enumerate(series.items()):
            count = values.get(day, 0)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{series_color(index)}">'
                f"<title>{escape(name)} {day.isoformat()}: {count}</title></rect>"
            )
        if len(days) <= 16 or i % max(len(days) // 8, 1) == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="10">'
                f"{day.strftime('%m-%d')}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
