"""Inline SVG bar charts for the dashboard: geometry computed here, drawn by the template."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

WIDTH, HEIGHT, PAD = 640, 200, 24


def sales_chart(sales: list[dict[str, Any]], measure: str) -> dict[str, Any]:
    """Stacked bars per day (one colour per channel) of ``measure`` (units or revenue of one
    currency, already filtered by the caller)."""
    days = sorted({row["day"] for row in sales})
    channels = sorted({row["channel"] for row in sales})
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in sales:
        totals[row["day"]] += Decimal(str(row[measure]))
    top = max(totals.values(), default=Decimal(0)) or Decimal(1)
    step = (WIDTH - 2 * PAD) / max(len(days), 1)
    bars = []
    for row in sales:
        index = days.index(row["day"])
        below = sum(
            (
                Decimal(str(r[measure]))
                for r in sales
                if r["day"] == row["day"]
                and channels.index(r["channel"]) < channels.index(row["channel"])
            ),
            Decimal(0),
        )
        scale = (HEIGHT - 2 * PAD) / float(top)
        height = float(Decimal(str(row[measure]))) * scale
        bars.append(
            {
                "x": round(PAD + index * step + step * 0.1, 1),
                "y": round(HEIGHT - PAD - float(below) * scale - height, 1),
                "width": round(step * 0.8, 1),
                "height": round(height, 1),
                "colour": channels.index(row["channel"]) % 6,
                "label": f"{row['channel']} {row['day']}: {row[measure]}",
            }
        )
    labels = [
        {"x": round(PAD + i * step + step / 2, 1), "text": day[5:]} for i, day in enumerate(days)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "labels": labels,
        "channels": channels,
        "top": str(top),
    }
