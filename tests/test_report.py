"""The weekly summary as data (core/report.py): ISO weeks in the zone, hours asleep, activations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import epoch
from core.models import ActivityRecord, OperationType, RecordStatus
from core.report import iso_week, parse_week, summarize_week
from tests.builders import activation_record as activation
from tests.builders import shutdown_record as shutdown
from tests.harness import MADRID, madrid

HOUR = 3600


def test_the_iso_week_starts_on_monday_midnight_in_the_zone() -> None:
    week = iso_week(madrid(2026, 12, 6, 23, 30), MADRID)  # a Sunday night
    assert week.label == "2026-W49"
    assert week.start == epoch(madrid(2026, 11, 30))
    assert week.end == epoch(madrid(2026, 12, 7))
    assert parse_week("2026-W49", MADRID) == week
    assert iso_week(madrid(2026, 12, 31), MADRID).label == "2026-W53"  # 2026 has 53 weeks


def test_a_week_with_a_dst_change_lasts_its_real_hours() -> None:
    week = parse_week("2026-W43", MADRID)  # Sunday 25 October 2026: clocks go back
    assert (week.end - week.start) // HOUR == 7 * 24 + 1


@pytest.mark.parametrize("label", ["2026-49", "2026-W54", "W49", "2026-W4"])
def test_a_bad_week_label_says_the_form(label: str) -> None:
    with pytest.raises(ValueError, match=r"ISO week|not a week"):
        parse_week(label, MADRID)


def test_nights_asleep_minus_activations_and_open_ones_up_to_now() -> None:
    week = parse_week("2026-W49", MADRID)
    records = [
        # Sunday night of the week before: only its part after Monday 00:00 counts (7h).
        shutdown("pay-api", madrid(2026, 11, 27, 20), madrid(2026, 11, 30, 7)),
        shutdown("pay-api", madrid(2026, 11, 30, 20), madrid(2026, 12, 1, 7)),  # 11h
        activation("pay-api", "CC-PAY", madrid(2026, 11, 30, 22), madrid(2026, 12, 1, 0)),  # 2h
        shutdown("pay-api", madrid(2026, 12, 1, 20)),  # open: up to now, Tuesday 23:00 (3h)
        shutdown("team-a", madrid(2026, 12, 1, 20)),  # open: 3h
        activation("team-a", "CC-ALL", madrid(2026, 12, 1, 22)),  # open: 1h up to now
        shutdown("old", madrid(2026, 11, 20, 20), madrid(2026, 11, 23, 7)),  # another week
    ]
    summary = summarize_week(records, week, now=epoch(madrid(2026, 12, 1, 23)))
    asleep = {n.namespace: n.asleep_hours for n in summary.namespaces}
    assert asleep == {"pay-api": 7 + 11 - 2 + 3, "team-a": 3 - 1}
    uses = {(c.cost_center, c.activations, c.hours) for c in summary.cost_centers}
    assert uses == {("CC-PAY", 1, 2.0), ("CC-ALL", 1, 1.0)}
    assert summary.until == epoch(madrid(2026, 12, 1, 23))
    assert summary.total_asleep_hours == 19 + 2 and summary.total_activation_hours == 3


def test_a_finished_week_counts_up_to_its_end_and_a_future_one_counts_nothing() -> None:
    week = parse_week("2026-W49", MADRID)
    records = [shutdown("pay-api", madrid(2026, 12, 4, 20))]  # Friday night, still open
    done = summarize_week(records, week, now=epoch(madrid(2026, 12, 9, 12)))
    assert done.until == week.end
    assert [n.asleep_hours for n in done.namespaces] == [52.0]  # Fri 20:00 to Mon 00:00
    ahead = summarize_week(records, parse_week("2026-W50", MADRID), epoch(madrid(2026, 12, 1)))
    assert ahead.namespaces == [] and ahead.cost_centers == []


def test_overlapping_activations_of_one_namespace_are_not_subtracted_twice() -> None:
    week = parse_week("2026-W49", MADRID)
    records = [
        shutdown("pay-api", madrid(2026, 12, 1, 20), madrid(2026, 12, 2, 7)),
        activation("pay-api", "CC-PAY", madrid(2026, 12, 1, 21), madrid(2026, 12, 1, 23)),
        activation("pay-api", "CC-ALL", madrid(2026, 12, 1, 22), madrid(2026, 12, 2, 0)),
    ]
    summary = summarize_week(records, week, now=epoch(madrid(2026, 12, 3)))
    assert [n.asleep_hours for n in summary.namespaces] == [11 - 3]
    assert summary.total_activation_hours == 4  # each cost center pays its own window


SPANS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.booleans(),  # shutdown or activation
        st.integers(-3 * 24, 9 * 24),  # start, hours from the week's start
        st.one_of(st.none(), st.integers(0, 80)),  # length in hours, None: still open
    ),
    max_size=12,
)


@given(spans=SPANS, now_hours=st.integers(0, 8 * 24))
def test_hours_are_bounded_by_the_elapsed_week_and_order_free(
    spans: list[tuple[str, bool, int, int | None]], now_hours: int
) -> None:
    week = parse_week("2026-W49", MADRID)
    now = week.start + now_hours * HOUR
    records = []
    for ns, is_sleep, start_h, length in spans:
        start = week.start + start_h * HOUR
        if length is None and start > now:
            continue  # an open record cannot start after now
        end = None if length is None else start + length * HOUR
        records.append(
            ActivityRecord(
                namespace_name=ns,
                timestamp_start=start,
                timestamp_end=end,
                operation_type=(
                    OperationType.AUTO_SHUTDOWN if is_sleep else OperationType.MANUAL_ACTIVATION
                ),
                status=RecordStatus.ACTIVE,
                cost_center="CC",
            )
        )
    summary = summarize_week(records, week, now)
    elapsed = (min(now, week.end) - week.start) / HOUR
    assert all(0 <= n.asleep_hours <= elapsed for n in summary.namespaces)
    assert summarize_week(list(reversed(records)), week, now) == summary
