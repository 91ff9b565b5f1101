"""Stacked bar charts as inline SVG, rendered on the server (the audit page has no script).

One bar per time bucket, one colour per series (a reason, a source), and a legend table with
each series' total, which is also what a test or a screen reader reads. Series names can be
the sender's text (an unknown source's URL segment): everything is escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

# Tableau 10: tells ten series apart, also for the common colour-vision deficiencies.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 880, 190, 40, 22, 8


def _ceiling(peak: int) -> int:
    """The y axis' top: 1, 2 or 5 times a power of ten, at least the tallest bar."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= peak:
                return step * scale
        scale *= 10


def _label(moment: float, step: int) -> str:
    at = datetime.fromtimestamp(moment, UTC)
    return at.strftime("%m-%d") if step >= 86400 else at.strftime("%H:%M")


def chart(chart_id: str, series: dict[str, list[int]], colors: dict[str, str], start: float,
          step: int) -> str:
    """`series`: name -> count per bucket (all the same length); bucket i starts at start + i*step."""
    buckets = len(next(iter(series.values()), []))
    if not buckets or not any(any(counts) for counts in series.values()):
        return f"<p id={chart_id} class=muted>no rejections in this range</p>"
    top = _ceiling(max(sum(column) for column in zip(*series.values(), strict=True)))
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    bar_w = plot_w / buckets
    parts = [f"<svg id={chart_id} class=chart viewBox='0 0 {WIDTH} {HEIGHT}' width={WIDTH} "
             f"height={HEIGHT} role=img aria-labelledby={chart_id}-legend>"]
    for value in (0, top // 2, top) if top > 1 else (0, top):
        y = TOP + plot_h - value * plot_h / top
        parts.append(f"<line x1={LEFT} x2={WIDTH - 4} y1={y:.1f} y2={y:.1f} class=grid />"
                     f"<text x={LEFT - 6} y={y + 4:.1f} text-anchor=end>{value}</text>")
    every = max(1, -(-buckets // 8))  # at most about 8 time labels
    for i in range(buckets):
        x, base = LEFT + i * bar_w, float(TOP + plot_h)
        when = f"{_label(start + i * step, step)}-{_label(start + (i + 1) * step, step)}"
        for name, counts in series.items():
            if counts[i]:
                h = counts[i] * plot_h / top
                base -= h
                parts.append(f"<rect x={x + 0.5:.1f} y={base:.1f} width={max(bar_w - 1, 1):.1f} "
                             f"height={h:.1f} fill='{colors[name]}' data-key='{escape(name, True)}' "
                             f"data-count={counts[i]}><title>{escape(when)} {escape(name)}: "
                             f"{counts[i]}</title></rect>")
        if i % every == 0:
            parts.append(f"<text x={x:.1f} y={HEIGHT - 6} class=tick>"
                         f"{_label(start + i * step, step)}</text>")
    parts.append("</svg>")
    return f"<div class=plot>{''.join(parts)}{_legend(chart_id, series, colors)}</div>"


def _legend(chart_id: str, series: dict[str, list[int]], colors: dict[str, str]) -> str:
    rows = "".join(f"<tr data-key='{escape(name, True)}'><td><span class=swatch "
                   f"style='background:{colors[name]}'></span>{escape(name)}</td>"
                   f"<td class=n>{sum(counts)}</td></tr>"
                   for name, counts in series.items() if sum(counts))
    return f"<table id={chart_id}-legend class=legend><tr><th></th><th>requests</th></tr>{rows}</table>"


def colors_for(names: list[str], fixed: tuple[str, ...] = ()) -> dict[str, str]:
    """A colour per name: a name in `fixed` always gets the same one (a reason is the same
    colour in every range); the others take the palette in order."""
    return {name: PALETTE[(fixed.index(name) if name in fixed else i) % len(PALETTE)]
            for i, name in enumerate(names)}
