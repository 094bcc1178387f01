"""The weekly summary's chart: saved vs spent per day, as a PNG (Pillow, no I/O).

For each day of `WeekSummary.days`, two solid bars side by side: saved (`SAVED_COLOUR`) and spent
after hours (`SPENT_COLOUR`), both scaled to the largest value of the week. A value of 0 draws
nothing (a zero-height bar); any other value is at least one pixel tall, so every non-zero bar
touches the row just above the x axis (`Layout.axis_y - 1`), where tests count them. A day that is
not 24 hours long (a DST change) says so under its label. Same summary, same bytes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import date

from PIL import Image, ImageDraw, ImageFont

from core.report import DayFigures, WeekSummary

Colour = tuple[int, int, int]
WIDTH, HEIGHT = 800, 400
BACKGROUND: Colour = (255, 255, 255)
INK: Colour = (51, 51, 51)  # axes and text
GRID: Colour = (225, 225, 225)
SAVED_COLOUR: Colour = (46, 125, 50)  # green
SPENT_COLOUR: Colour = (230, 97, 0)  # orange
TICKS = 4  # horizontal grid lines above the axis
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Layout:
    """Where the plot sits in the image (pixels); bars stand on `axis_y`."""

    left: int = 80
    right: int = WIDTH - 20
    top: int = 70
    axis_y: int = HEIGHT - 60
    bar_width: int = 30
    bar_gap: int = 4  # between a day's two bars

    @property
    def plot_height(self) -> int:
        return self.axis_y - self.top

    def slot(self, index: int, count: int) -> tuple[int, int]:
        """The x range of day `index` of `count`."""
        width = (self.right - self.left) / max(count, 1)
        return round(self.left + index * width), round(self.left + (index + 1) * width)

    def bars_x(self, index: int, count: int) -> tuple[int, int]:
        """The left x of the day's saved bar and of its spent bar."""
        begin, end = self.slot(index, count)
        saved_x = (begin + end) // 2 - self.bar_gap // 2 - self.bar_width
        return saved_x, saved_x + self.bar_width + self.bar_gap


LAYOUT = Layout()


def render_week_chart(summary: WeekSummary) -> bytes:
    """The PNG of the week's saved vs spent per day (800x400)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    top_value = _scale_top(max((v for d in summary.days for v in (d.saved, d.spent)), default=0))
    _title(draw, summary)
    _legend(draw)
    _y_axis(draw, top_value, summary.currency)
    for index, day in enumerate(summary.days):
        _day(draw, index, len(summary.days), day, top_value)
    draw.line([(LAYOUT.left, LAYOUT.axis_y), (LAYOUT.right, LAYOUT.axis_y)], fill=INK, width=1)
    if top_value == 0:
        _centred(draw, WIDTH // 2, LAYOUT.top + LAYOUT.plot_height // 2, "nothing saved or spent")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def chart_alt_text(summary: WeekSummary) -> str:
    """What the chart shows, in words (Slack's alt text for the image)."""
    currency = summary.currency
    return (
        f"Saved vs spent per day, {summary.week}: {len(summary.days)} days, "
        f"saved {summary.total_saved:,.2f} {currency}, "
        f"spent {summary.total_activation_cost:,.2f} {currency}"
    )


def bar_height(value: float, top_value: float) -> int:
    """Pixels for `value` on a scale whose top is `top_value`: 0 for 0, else at least 1."""
    if value <= 0 or top_value <= 0:
        return 0
    return max(1, round(value / top_value * LAYOUT.plot_height))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _title(draw: ImageDraw.ImageDraw, summary: WeekSummary) -> None:
    title = f"Saved vs spent after hours per day, week {summary.week} ({summary.currency})"
    draw.text((LAYOUT.left, 14), title, fill=INK, font=_font(18))


def _legend(draw: ImageDraw.ImageDraw) -> None:
    font = _font(13)
    x, y = LAYOUT.left, 44
    for colour, label in ((SAVED_COLOUR, "saved (asleep)"), (SPENT_COLOUR, "spent (activations)")):
        draw.rectangle([x, y, x + 13, y + 13], fill=colour)
        draw.text((x + 19, y), label, fill=INK, font=font)
        x += 19 + round(draw.textlength(label, font=font)) + 24


def _y_axis(draw: ImageDraw.ImageDraw, top_value: float, currency: str) -> None:
    font = _font(12)
    draw.line([(LAYOUT.left, LAYOUT.top - 6), (LAYOUT.left, LAYOUT.axis_y)], fill=INK, width=1)
    for tick in range(1, TICKS + 1) if top_value else ():
        y = LAYOUT.axis_y - round(tick * LAYOUT.plot_height / TICKS)
        draw.line([(LAYOUT.left + 1, y), (LAYOUT.right, y)], fill=GRID, width=1)
        label = _tick(top_value * tick / TICKS)
        draw.text((LAYOUT.left - 8, y), label, fill=INK, font=font, anchor="rm")
    draw.text((LAYOUT.left - 8, LAYOUT.axis_y), "0", fill=INK, font=font, anchor="rm")
    draw.text((8, LAYOUT.top - 22), currency, fill=INK, font=font)


def _day(
    draw: ImageDraw.ImageDraw, index: int, count: int, day: DayFigures, top_value: float
) -> None:
    saved_x, spent_x = LAYOUT.bars_x(index, count)
    for x, value, colour in (
        (saved_x, day.saved, SAVED_COLOUR),
        (spent_x, day.spent, SPENT_COLOUR),
    ):
        height = bar_height(value, top_value)
        if height:
            top = LAYOUT.axis_y - height
            draw.rectangle([x, top, x + LAYOUT.bar_width - 1, LAYOUT.axis_y - 1], fill=colour)
            _centred(draw, x + LAYOUT.bar_width // 2, top - 9, _amount(value), size=11)
    begin, end = LAYOUT.slot(index, count)
    _centred(draw, (begin + end) // 2, LAYOUT.axis_y + 14, day_label(day.date))
    if not math.isclose(day.hours, 24):
        _centred(draw, (begin + end) // 2, LAYOUT.axis_y + 32, f"({day.hours:g} h, DST)", size=11)


def day_label(iso_date: str) -> str:
    """`2026-12-07` -> `Mon 12-07`."""
    day = date.fromisoformat(iso_date)
    return f"{WEEKDAYS[day.weekday()]} {day:%m-%d}"  # not %a: that one follows the locale


def _centred(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, size: int = 13) -> None:
    draw.text((x, y), text, fill=INK, font=_font(size), anchor="mm")


def _amount(value: float) -> str:
    """A bar's value: cents while they fit over the bar."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:,.2f}"


def _tick(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _scale_top(largest: float) -> float:
    """The top of the scale: `TICKS` round steps (1, 2, 2.5 or 5 x 10^n) reaching `largest`."""
    if largest <= 0:
        return 0.0
    wanted = largest / TICKS
    magnitude = 10 ** math.floor(math.log10(wanted))
    step = next(s * magnitude for s in (1, 2, 2.5, 5, 10) if s * magnitude >= wanted)
    return float(step * TICKS)
