"""The weekly chart: a valid PNG with one bar per non-zero value, uploaded once with
files_upload_v2 (the real slack_sdk WebClient against the fake Slack over loopback HTTP) in the
thread of the weekly summary's message.

Bars are counted on the decoded pixels: along the row just above the x axis, each run of the
saved colour or of the spent colour is one bar (every non-zero value is at least 1 px tall, so
it reaches that row). A value of 0 draws a zero-height bar: nothing, so it is not counted, and
its place in the day's slot has no bar colour at any height.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from slack_sdk import WebClient

from bot.console import Recorder
from bot.slack.chart import (
    BACKGROUND,
    HEIGHT,
    LAYOUT,
    SAVED_COLOUR,
    SPENT_COLOUR,
    WIDTH,
    chart_alt_text,
    day_label,
    render_week_chart,
)
from bot.slack.notifier import SlackNotifier
from core.report import DayFigures, WeekSummary, parse_week
from tests.builders import deployment, namespace
from tests.fake_slack import UPLOAD, UPLOAD_STEPS, FakeSlack
from tests.harness import Harness, madrid, make_harness

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MADRID = ZoneInfo("Europe/Madrid")
NOTIFY = "C0NOTIFY"
BAR_ROW = LAYOUT.axis_y - 1


def summary_of(days: list[DayFigures], week: str = "2026-W49") -> WeekSummary:
    return WeekSummary(
        week=week,
        start=0,
        end=0,
        until=0,
        namespaces=[],
        cost_centers=[],
        currency="EUR",
        total_saved=round(sum(d.saved for d in days), 2),
        total_activation_cost=round(sum(d.spent for d in days), 2),
        days=days,
    )


def week_days(label: str, saved: list[float], spent: list[float]) -> list[DayFigures]:
    """The real days of an ISO week in Madrid (23 or 25 hours on a DST change)."""
    week = parse_week(label, MADRID)
    return [
        DayFigures(date=iso, hours=(end - begin) / 3600, saved=s, spent=p)
        for (iso, begin, end), s, p in zip(week.days(), saved, spent, strict=True)
    ]


SAVED = [120.5, 88.25, 88.25, 60.0, 88.25, 190.0, 190.0]
SPENT = [1.0, 12.3, 4.5, 45.75, 3.1, 2.0, 0.01]


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


def bars(image: Image.Image, row: int = BAR_ROW) -> list[tuple[str, int, int]]:
    """(colour name, first x, width) of each run of a bar colour along `row`, left to right."""
    names = {SAVED_COLOUR: "saved", SPENT_COLOUR: "spent"}
    runs: list[tuple[str, int, int]] = []
    previous = None
    for x in range(image.width):
        pixel = image.getpixel((x, row))
        name = names.get(pixel) if isinstance(pixel, tuple) else None
        if name is not None and name == previous:
            colour, start, width = runs[-1]
            runs[-1] = (colour, start, width + 1)
        elif name is not None:
            runs.append((name, x, 1))
        previous = name
    return runs


def bar_top(image: Image.Image, x: int, colour: tuple[int, int, int]) -> int:
    """How many pixels of `colour` stand above the axis in column x."""
    height = 0
    while image.getpixel((x, BAR_ROW - height)) == colour:
        height += 1
    return height


# ---- the PNG -------------------------------------------------------------------------------------


def test_the_chart_is_a_valid_png_of_800_by_400() -> None:
    png = render_week_chart(summary_of(week_days("2026-W49", SAVED, SPENT)))
    assert png.startswith(PNG_SIGNATURE)
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    ihdr = png[16 : 16 + length]
    width, height, depth, colour_type = struct.unpack(">IIBB", ihdr[:10])
    assert (width, height, depth, colour_type) == (800, 400, 8, 2)  # 8-bit RGB
    (crc,) = struct.unpack(">I", png[16 + length : 20 + length])
    assert crc == zlib.crc32(b"IHDR" + ihdr)
    assert png.endswith(b"IEND\xaeB`\x82")
    Image.open(io.BytesIO(png)).verify()
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
    image.load()


def test_the_same_summary_gives_the_same_bytes() -> None:
    summary = summary_of(week_days("2026-W49", SAVED, SPENT))
    again = WeekSummary.model_validate(summary.model_dump(mode="json"))  # as the notice carries it
    assert render_week_chart(summary) == render_week_chart(again)
    other = summary_of(week_days("2026-W49", [*SAVED[:6], 10.0], SPENT))
    assert render_week_chart(other) != render_week_chart(summary)


# ---- the bars ------------------------------------------------------------------------------------


def test_seven_days_are_fourteen_bars_saved_then_spent_scaled_to_the_largest() -> None:
    image = decode(render_week_chart(summary_of(week_days("2026-W49", SAVED, SPENT))))
    found = bars(image)
    assert [name for name, _, _ in found] == ["saved", "spent"] * 7
    assert {width for _, _, width in found} == {LAYOUT.bar_width}
    for index, (_, x, _) in enumerate(found):
        slot_begin, slot_end = LAYOUT.slot(index // 2, 7)
        assert slot_begin <= x and x + LAYOUT.bar_width <= slot_end  # inside its own day
    heights = [
        bar_top(image, x + LAYOUT.bar_width // 2, SAVED_COLOUR if name == "saved" else SPENT_COLOUR)
        for name, x, _ in found
    ]
    values = [v for pair in zip(SAVED, SPENT, strict=True) for v in pair]
    tallest = heights[values.index(max(values))]
    assert tallest > LAYOUT.plot_height * 0.7  # the largest value fills most of the plot
    for height, value in zip(heights, values, strict=True):
        assert height == pytest.approx(value / max(values) * tallest, abs=1.5)
    assert heights[-1] == 1  # 0.01 next to 190: the smallest visible bar, still counted


@pytest.mark.parametrize(
    ("week", "short_or_long"),
    [("2026-W13", 23.0), ("2026-W43", 25.0)],  # Madrid: 29 March and 25 October 2026, Sundays
)
def test_a_dst_week_still_has_seven_days_of_two_bars(week: str, short_or_long: float) -> None:
    days = week_days(week, SAVED, SPENT)
    assert [d.hours for d in days] == [24.0] * 6 + [short_or_long]
    image = decode(render_week_chart(summary_of(days, week)))
    assert [name for name, _, _ in bars(image)] == ["saved", "spent"] * 7
    # The short or long day says so under its label: ink where a 24-hour day has none.
    assert _ink_below_labels(image, 6) > 0
    assert _ink_below_labels(image, 5) == 0


def _ink_below_labels(image: Image.Image, day: int) -> int:
    begin, end = LAYOUT.slot(day, 7)
    return sum(
        1
        for x in range(begin, end)
        for y in range(LAYOUT.axis_y + 25, LAYOUT.axis_y + 40)
        if image.getpixel((x, y)) != BACKGROUND
    )


def test_a_zero_value_draws_no_bar() -> None:
    saved = [120.5, 0.0, 88.25, 60.0, 0.0, 190.0, 190.0]
    spent = [1.0, 0.0, 0.0, 45.75, 3.1, 0.0, 0.0]
    image = decode(render_week_chart(summary_of(week_days("2026-W49", saved, spent))))
    expected = [
        name
        for s, p in zip(saved, spent, strict=True)
        for name, value in (("saved", s), ("spent", p))
        if value > 0
    ]
    assert [name for name, _, _ in bars(image)] == expected  # 8 bars for 8 non-zero values
    begin, end = LAYOUT.slot(1, 7)  # Tuesday: nothing saved, nothing spent
    column = {
        image.getpixel((x, y)) for x in range(begin, end) for y in range(LAYOUT.top, BAR_ROW + 1)
    }
    assert SAVED_COLOUR not in column and SPENT_COLOUR not in column


def test_a_week_of_zeros_is_a_chart_without_bars() -> None:
    image = decode(render_week_chart(summary_of(week_days("2026-W49", [0.0] * 7, [0.0] * 7))))
    assert image.size == (WIDTH, HEIGHT)
    assert bars(image) == []


def test_day_labels() -> None:
    assert day_label("2026-12-07") == "Mon 12-07"
    assert day_label("2026-03-29") == "Sun 03-29"


# ---- the upload, through the notifier ------------------------------------------------------------


@dataclass
class Env:
    h: Harness
    slack: FakeSlack
    notifier: SlackNotifier

    def weekly(self) -> WeekSummary:
        """A night asleep in 2026-W49, then the Monday job: the weekly notice in the outbox."""
        self.h.service.shutdown(at=madrid(2026, 12, 1, 20))
        self.h.service.startup(at=madrid(2026, 12, 2, 7))
        self.notifier.drain(madrid(2026, 12, 2, 7))
        self.slack.forget()
        return self.h.service.post_weekly_summary(MONDAY)

    def messages(self) -> list[dict[str, Any]]:
        return [p for _, p in self.slack.calls("chat.postMessage")]


MONDAY = madrid(2026, 12, 7, 9)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with FakeSlack() as slack:
        h = make_harness(
            tmp_path,
            [namespace("team-a"), deployment("team-a", "app", 2)],
            at=madrid(2026, 12, 1, 20),
            slack={"notifications_channel": NOTIFY, "approvals_channel": "C0APPROVALS"},
        )
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        yield Env(h, slack, SlackNotifier(h.outbox, client, h.config, h.clock))


def test_the_weekly_summary_uploads_its_chart_in_the_thread_of_its_message(env: Env) -> None:
    summary = env.weekly()
    assert env.notifier.drain(MONDAY) == 1
    [message] = env.messages()
    assert message["channel"] == NOTIFY and "2026-W49" in message["text"]
    [upload] = env.slack.uploads
    assert upload.channel == NOTIFY
    assert upload.thread_ts == env.slack.answer_to(message)["ts"]
    assert upload.filename == "namespace-ctl-2026-W49.png"
    assert "2026-W49" in upload.title
    assert upload.data.startswith(PNG_SIGNATURE)
    assert upload.data == render_week_chart(summary)
    assert decode(upload.data).size == (WIDTH, HEIGHT)
    nonzero = sum(1 for d in summary.days for v in (d.saved, d.spent) if v > 0)
    assert nonzero == 2  # saved on Tuesday night and Wednesday morning
    assert len(bars(decode(upload.data))) == nonzero
    assert [m for m, _ in env.slack.calls()] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        UPLOAD,
        "files.completeUploadExternal",
    ]
    assert env.h.outbox.pending_count() == 0


def test_the_same_notice_twice_is_one_message_and_one_upload(env: Env) -> None:
    env.weekly()
    env.h.service.post_weekly_summary(MONDAY + timedelta(minutes=1))  # a restart posts again
    env.notifier.drain(MONDAY)
    env.notifier.drain(MONDAY + timedelta(hours=1))
    assert len(env.messages()) == 1
    assert len(env.slack.uploads) == 1
    assert len(env.slack.calls("files.getUploadURLExternal")) == 1


@pytest.mark.parametrize("step", UPLOAD_STEPS)
def test_a_failed_upload_keeps_its_message_and_is_retried_in_its_thread(
    env: Env, step: str
) -> None:
    env.weekly()
    env.slack.fail_uploads(step)
    assert env.notifier.drain(MONDAY) == 1  # the message is delivered
    [message] = env.messages()
    assert env.h.outbox.is_delivered("weekly:2026-W49")
    assert env.slack.uploads == [] and env.slack.failed_calls(step)
    assert env.h.outbox.pending_count() == 1  # the chart waits
    env.notifier.drain(MONDAY + timedelta(seconds=1))  # not due yet: the outbox's backoff
    assert len(env.slack.failed_calls(step)) == 1
    env.slack.heal()
    env.notifier.drain(MONDAY + timedelta(minutes=5))
    assert env.messages() == [message]  # never posted twice
    [upload] = env.slack.uploads
    assert (upload.channel, upload.thread_ts) == (NOTIFY, env.slack.answer_to(message)["ts"])
    assert upload.data.startswith(PNG_SIGNATURE)
    assert env.h.outbox.pending_count() == 0
    env.notifier.drain(MONDAY + timedelta(hours=1))
    assert len(env.slack.uploads) == 1


def test_without_files_write_the_message_is_delivered_and_the_chart_dropped(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.weekly()
    env.slack.fail("missing_scope", 200, {"files.getUploadURLExternal"})
    assert env.notifier.drain(MONDAY) == 1
    assert len(env.messages()) == 1
    assert env.slack.uploads == []
    assert env.h.outbox.pending_count() == 0  # nothing to retry: a retry cannot cure it
    assert "files:write" in caplog.text
    env.slack.heal()
    env.notifier.drain(MONDAY + timedelta(hours=1))
    assert len(env.messages()) == 1 and env.slack.uploads == []


def test_a_retry_refused_for_good_gives_the_chart_up(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.weekly()
    env.slack.fail_uploads(UPLOAD)
    env.notifier.drain(MONDAY)
    env.slack.fail("missing_scope", 200, {"files.getUploadURLExternal"})  # the scope was removed
    env.notifier.drain(MONDAY + timedelta(minutes=5))
    assert env.slack.failed_calls("files.getUploadURLExternal")
    assert env.h.outbox.pending_count() == 0 and "given up" in caplog.text
    assert len(env.messages()) == 1 and env.slack.uploads == []


def test_the_console_prints_the_uploaded_chart() -> None:
    out = io.StringIO()
    recorder = Recorder(out)
    try:
        client = WebClient(token="xoxb-console", base_url=recorder.url + "/api/")
        summary = summary_of(week_days("2026-W49", SAVED, SPENT))
        png = render_week_chart(summary)
        client.files_upload_v2(
            channel="C0NOTIFY",
            thread_ts="1700000000.000001",
            file=png,
            filename="namespace-ctl-2026-W49.png",
            title="Saved vs spent per day, 2026-W49",
            alt_txt=chart_alt_text(summary),
        )
    finally:
        recorder.close()
    assert out.getvalue().splitlines() == [
        "[#C0NOTIFY] (chart uploaded in the thread of message 1700000000.000001: "
        f"namespace-ctl-2026-W49.png, {len(png):,} bytes)",
        "  | Saved vs spent per day, 2026-W49: 7 days, saved 825.25 EUR, spent 68.66 EUR",
    ]


def test_other_notices_upload_nothing(env: Env) -> None:
    env.h.service.shutdown(at=madrid(2026, 12, 1, 20))
    assert env.notifier.drain(madrid(2026, 12, 1, 20)) == 1
    assert len(env.messages()) == 1
    assert env.slack.calls("files.getUploadURLExternal") == []
