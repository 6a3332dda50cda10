"""Inline SVG charts for the HTML report: no plotting library, no files, no scripts.

Each function returns one `<svg>` element (a string) sized in CSS pixels, with a `<title>` per
bar so hovering shows the exact value.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

COLOURS = ("#3b6fb6", "#e07b39", "#5a9e5a", "#b6443b")
FONT = 'font-family="system-ui,sans-serif" font-size="11"'


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def hbar_chart(labels: Sequence[str], series: Sequence[Sequence[float]],
               names: Sequence[str] = (), *, width: int = 560, percent: bool = False,
               chart_id: str = "") -> str:
    """Horizontal bars: one row per label, one bar per series (grouped), a legend if named."""
    label_w, bar_h, gap = 150, 12, 8
    row_h = bar_h * len(series) + gap
    top = 18 if names else 4
    height = top + row_h * len(labels) + 4
    peak = max((v for s in series for v in s), default=0) or 1
    plot_w = width - label_w - 60
    parts = [f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for j, name in enumerate(names):
        x = label_w + j * 140
        parts.append(f'<rect x="{x}" y="3" width="10" height="10" fill="{COLOURS[j % 4]}"/>'
                     f'<text x="{x + 14}" y="12" {FONT}>{escape(name)}</text>')
    for i, label in enumerate(labels):
        y0 = top + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y0 + row_h / 2}" {FONT} text-anchor="end" '
                     f'dominant-baseline="middle">{escape(label)}</text>')
        for j, values in enumerate(series):
            value = values[i]
            w = max(plot_w * value / peak, 0.5 if value else 0)
            y = y0 + j * bar_h
            shown = f"{value:.1%}" if percent else _fmt(value)
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'fill="{COLOURS[j % 4]}"><title>{escape(label)}: {shown}</title></rect>'
                         f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h / 2}" {FONT} '
                         f'dominant-baseline="middle">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(bins: Sequence[str], counts: Sequence[int], *, width: int = 560,
              height: int = 180, x_label: str = "", chart_id: str = "") -> str:
    """Vertical bars over ordered bins (labels under every few bars)."""
    left, bottom, top = 36, 30, 8
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(counts, default=0) or 1
    step = plot_w / max(len(counts), 1)
    every = max(1, len(bins) // 12)
    parts = [f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
             f'stroke="#888"/>',
             f'<text x="{left - 4}" y="{top + 8}" {FONT} text-anchor="end">{peak}</text>']
    for i, (label, count) in enumerate(zip(bins, counts, strict=True)):
        h = plot_h * count / peak
        x = left + i * step
        parts.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" '
                     f'width="{max(step - 2, 1):.1f}" height="{h:.1f}" fill="{COLOURS[0]}">'
                     f'<title>{escape(label)}: {count}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{top + plot_h + 13}" {FONT} '
                         f'text-anchor="middle">{escape(label)}</text>')
    if x_label:
        parts.append(f'<text x="{left + plot_w / 2}" y="{height - 3}" {FONT} '
                     f'text-anchor="middle">{escape(x_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def binned(values: Sequence[float], lo: float, hi: float, n: int) -> tuple[list[str], list[int]]:
    """Equal-width bins over [lo, hi] (values outside are clamped into the end bins)."""
    counts = [0] * n
    width = (hi - lo) / n
    for v in values:
        counts[min(max(int((v - lo) / width), 0), n - 1)] += 1
    labels = [f"{lo + i * width:.2g}" for i in range(n)]
    return labels, counts
