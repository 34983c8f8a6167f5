"""tasks.ics is streamed: events are sorted one start at a time, in batches, and the bytes
equal the calendar rendered from every event at once."""

from __future__ import annotations

import pytest

from patchpolicy.model.plan import StreamedPlan
from patchpolicy.render.ics import (
    TASKS_CALENDAR,
    ics_chunks,
    plan_events,
    plan_events_sorted,
    render_ics,
)
from patchpolicy.render.interface import RenderContext
from patchpolicy.render.tasks import TasksIcs, as_stream


def test_events_sorted_one_start_at_a_time_equal_all_events_sorted(ctx: RenderContext) -> None:
    assert ctx.plan is not None
    events = plan_events(ctx.plan)
    starts = [e.start for e in events]
    assert len(starts) > len(set(starts)), "the example plan has several tasks at one start"
    assert list(plan_events_sorted(ctx.plan)) == sorted(events)


@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_the_streamed_calendar_has_the_bytes_of_the_whole_one(ctx: RenderContext, batch: int) -> None:
    assert ctx.plan is not None
    stamp = as_stream(ctx.plan).header.as_of
    whole = render_ics(plan_events(ctx.plan), stamp=stamp, name=TASKS_CALENDAR)
    streamed = b"".join(ics_chunks(plan_events_sorted(ctx.plan), stamp=stamp, name=TASKS_CALENDAR,
                                   batch=batch))
    assert streamed == whole and whole.count(b"BEGIN:VEVENT") >= 2
    assert TasksIcs().render(ctx) == whole


def test_tasks_out_of_start_order_are_refused(ctx: RenderContext) -> None:
    assert ctx.plan is not None
    stream = as_stream(ctx.plan)
    scheduled = [t for t in stream.tasks if t.start is not None]
    backwards = StreamedPlan(stream.header, list(reversed(scheduled)))
    if len({t.start for t in scheduled}) < 2:
        pytest.fail("the example plan needs tasks at two starts")
    with pytest.raises(ValueError, match="not in start order"):
        list(plan_events_sorted(backwards))
