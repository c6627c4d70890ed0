"""The turnover chart: stacked bars per day, one colour per payment method, drawn as SVG on the server.

This computes the geometry only (the template draws it, escaping every name). Amounts stay
Decimal; the coordinates are Decimal too, rounded to a tenth of a pixel.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 14, 40
PALETTE = ("#3b6ea8", "#e0913a", "#4f9a5b", "#b8474b", "#7b5ea7", "#8c6d4f", "#c76fae", "#6f7c85", "#b5a33a",
           "#3aa5b5")
TENTH = Decimal("0.1")


def _px(value: Decimal) -> str:
    return str(value.quantize(TENTH, rounding=ROUND_HALF_UP))


def _nice(value: Decimal) -> Decimal:
    """A round number at or above value (1, 2, 5 × 10^n) for the axis."""
    if value <= 0:
        return Decimal(1)
    exp = value.adjusted()
    for step in (1, 2, 5, 10):
        candidate = Decimal(step).scaleb(exp)
        if candidate >= value:
            return candidate
    return Decimal(10).scaleb(exp)


def geometry(turnover: dict) -> dict:
    """turnover: {"dates": [...], "methods": [...], "series": {method: [amount text per date]}}."""
    dates, methods = turnover["dates"], turnover["methods"]
    values = {m: [Decimal(v) for v in turnover["series"][m]] for m in methods}
    up = [sum((values[m][i] for m in methods if values[m][i] > 0), Decimal(0)) for i in range(len(dates))]
    down = [sum((values[m][i] for m in methods if values[m][i] < 0), Decimal(0)) for i in range(len(dates))]
    top = _nice(max(up, default=Decimal(0)))
    bottom = -_nice(-min(down, default=Decimal(0))) if any(down) else Decimal(0)
    plot_w, plot_h = Decimal(WIDTH - LEFT - RIGHT), Decimal(HEIGHT - TOP - BOTTOM)
    scale = plot_h / (top - bottom)
    zero = Decimal(TOP) + top * scale
    slot = plot_w / max(len(dates), 1)
    bar = slot * Decimal("0.7")
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}
    bars = []
    for i, date in enumerate(dates):
        x = Decimal(LEFT) + slot * i + (slot - bar) / 2
        pos, neg = zero, zero
        for m in methods:
            v = values[m][i]
            if not v:
                continue
            h = abs(v) * scale
            if v > 0:
                pos -= h
                y = pos
            else:
                y = neg
                neg += h
            bars.append({"x": _px(x), "y": _px(y), "w": _px(bar), "h": _px(h), "colour": colours[m],
                         "title": f"{date} {m}: {v}", "date": date, "method": m, "amount": str(v)})
    steps = sorted({top, top / 2, Decimal(0), bottom / 2, bottom})
    ticks = [{"y": _px(Decimal(TOP) + (top - t) * scale), "label": format(t.normalize(), "f")} for t in steps]
    labels = [{"x": _px(Decimal(LEFT) + slot * i + slot / 2), "text": d[8:]} for i, d in enumerate(dates)]
    legend = [{"method": m, "colour": colours[m], "x": LEFT + 110 * i} for i, m in enumerate(methods)]
    totals = [{"date": d, "total": str(sum((values[m][i] for m in methods), Decimal(0)))} for i, d in enumerate(dates)]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "zero": _px(zero),
            "bars": bars, "ticks": ticks, "labels": labels, "legend": legend, "legend_y": HEIGHT - 8,
            "label_y": HEIGHT - BOTTOM + 14, "totals": totals, "empty": not bars}
