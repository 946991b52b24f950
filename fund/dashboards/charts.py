"""Charts drawn on the server as inline SVG: horizontal bars, vertical bars (by month), stacked bars (budgets).

Every chart is an ``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>``; every bar carries
its label and its value as text (never colour alone), dark text on white, bars of at least 3:1 contrast with the
background. Every text is escaped: a label with ``<`` or ``&`` stays text. Without data, the chart says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 720
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
TEXT = "#1b1b1b"
AXIS = "#595959"
# Dark blue (10:1 on white), burnt orange (6:1), and a pale fill outlined in dark grey (7:1) for what is left.
PALETTE = ("#00427a", "#a63d00", "#dfe7ef")
OUTLINE = "#595959"
EMPTY = "Aucune donnée pour cette année"
MAX_LABEL = 70


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its size, and its value as shown (``3 demandes``, ``1 234,50 €``)."""

    label: str
    value: int
    text: str


@dataclass(frozen=True)
class Segment:
    name: str
    value: int
    text: str


@dataclass(frozen=True)
class Stack:
    """One stacked bar: segments left to right (their sum is the whole), and what the whole is (``sur 500 €``)."""

    label: str
    segments: Sequence[Segment]
    total_text: str = ""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _short(label: str, limit: int = MAX_LABEL) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "graphique"


def _svg(ident: str, title: str, description: str, height: int, body: str) -> Markup:
    ident = _slug(ident)
    # Safe: every text that reaches the SVG went through _e (escaped), numbers are formatted here.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="graphique" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{ident}-titre" aria-describedby="{ident}-desc" '
        f'font-family="{_e(FONT)}" font-size="14" fill="{TEXT}">'
        f'<title id="{ident}-titre">{_e(title)}</title>'
        f'<desc id="{ident}-desc">{_e(description)}</desc>'
        f"{body}</svg>"
    )


def empty_chart(ident: str, title: str) -> Markup:
    body = f'<text x="{WIDTH // 2}" y="34" text-anchor="middle" font-size="16">{_e(EMPTY)}</text>'
    return _svg(ident, title, EMPTY + ".", 56, body)


def _describe(bars: Sequence[Bar]) -> str:
    return " ; ".join(f"{b.label} : {b.text}" for b in bars) + "."


def horizontal_bars(ident: str, title: str, bars: Sequence[Bar], description: str = "") -> Markup:
    """One row per bar: the label above, the bar below it with its value written after it."""
    if not bars or not any(b.value > 0 for b in bars):
        return empty_chart(ident, title)
    row, left, value_room = 48, 8, 300
    longest = max(b.value for b in bars)
    scale = (WIDTH - left - value_room) / longest
    parts = []
    for index, bar in enumerate(bars):
        top = 8 + index * row
        length = max(round(bar.value * scale), 0)
        parts.append(
            f"<g><title>{_e(bar.label)} : {_e(bar.text)}</title>"
            f'<text x="{left}" y="{top + 14}">{_e(_short(bar.label))}</text>'
            f'<rect x="{left}" y="{top + 20}" width="{length}" height="18" fill="{PALETTE[0]}"/>'
            f'<text x="{left + length + 6}" y="{top + 34}" font-weight="600">{_e(bar.text)}</text></g>'
        )
    axis = f'<line x1="{left}" y1="{8 + 20}" x2="{left}" y2="{8 + len(bars) * row}" stroke="{AXIS}"/>'
    return _svg(ident, title, description or _describe(bars), 16 + len(bars) * row, axis + "".join(parts))


def vertical_bars(ident: str, title: str, bars: Sequence[Bar], description: str = "") -> Markup:
    """Columns (months): the value above each column, the label under it."""
    if not bars or not any(b.value > 0 for b in bars):
        return empty_chart(ident, title)
    top, plot, bottom = 24, 180, 28
    slot = (WIDTH - 16) / len(bars)
    width = slot * 0.6
    longest = max(b.value for b in bars)
    baseline = top + plot
    parts = []
    for index, bar in enumerate(bars):
        height = round(bar.value * plot / longest)
        x = 8 + index * slot + (slot - width) / 2
        middle = 8 + index * slot + slot / 2
        parts.append(
            f"<g><title>{_e(bar.label)} : {_e(bar.text)}</title>"
            f'<rect x="{x:.1f}" y="{baseline - height}" width="{width:.1f}" height="{height}" fill="{PALETTE[0]}"/>'
            f'<text x="{middle:.1f}" y="{baseline - height - 6}" text-anchor="middle" font-weight="600">'
            f"{_e(bar.text)}</text>"
            f'<text x="{middle:.1f}" y="{baseline + 20}" text-anchor="middle">{_e(_short(bar.label, 12))}</text></g>'
        )
    axis = f'<line x1="8" y1="{baseline}" x2="{WIDTH - 8}" y2="{baseline}" stroke="{AXIS}"/>'
    return _svg(ident, title, description or _describe(bars), top + plot + bottom, axis + "".join(parts))


def stacked_bars(ident: str, title: str, stacks: Sequence[Stack], description: str = "") -> Markup:
    """One bar per stack, as wide as the chart (shares of a whole), its segments named in a legend and written
    out under the bar."""
    if not stacks or not any(sum(s.value for s in stack.segments) > 0 for stack in stacks):
        return empty_chart(ident, title)
    names = list(dict.fromkeys(segment.name for stack in stacks for segment in stack.segments))
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    legend = []
    x = 8
    for name in names:
        legend.append(
            f'<rect x="{x}" y="6" width="14" height="14" fill="{colour[name]}" stroke="{OUTLINE}"/>'
            f'<text x="{x + 20}" y="18">{_e(name)}</text>'
        )
        x += 40 + 9 * len(name)
    row, left, room = 72, 8, WIDTH - 16
    parts = []
    for index, stack in enumerate(stacks):
        top = 32 + index * row
        whole = sum(max(s.value, 0) for s in stack.segments)
        parts.append(f"<g><title>{_e(stack.label)}</title>")
        parts.append(f'<text x="{left}" y="{top + 14}" font-weight="600">{_e(_short(stack.label))}</text>')
        start = 0.0
        for segment in stack.segments:
            width = room * max(segment.value, 0) / whole if whole else 0
            if width > 0:
                parts.append(
                    f'<rect x="{left + start:.1f}" y="{top + 20}" width="{width:.1f}" height="20" '
                    f'fill="{colour[segment.name]}" stroke="#ffffff"><title>{_e(segment.name)} : '
                    f"{_e(segment.text)}</title></rect>"
                )
            start += width
        parts.append(f'<rect x="{left}" y="{top + 20}" width="{room}" height="20" fill="none" stroke="{OUTLINE}"/>')
        detail = " · ".join(f"{s.name} {s.text}" for s in stack.segments)
        if stack.total_text:
            detail += f" ({stack.total_text})"
        parts.append(f'<text x="{left}" y="{top + 58}">{_e(detail)}</text></g>')
    if not description:
        description = (
            " ; ".join(
                f"{stack.label} : "
                + ", ".join(f"{s.name} {s.text}" for s in stack.segments)
                + (f" ({stack.total_text})" if stack.total_text else "")
                for stack in stacks
            )
            + "."
        )
    return _svg(ident, title, description, 40 + len(stacks) * row, "".join(legend) + "".join(parts))
