"""A sweep never does more than SweepPageSize accounts per shard in one invocation; the rest fans out."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from sundown.clock import parse_time
from sundown.models import due_shard_of, load
from tests.conftest import load_event

CREATED = parse_time(load_event("account_created")["time"])
IDS = [f"fan-{n}" for n in range(14)]


@pytest.mark.parametrize("wiring", [{"SweepPageSize": "2"}], indirect=True)
def test_every_due_account_is_done_exactly_once_across_fanned_out_pages(wiring, emails):
    # given 14 accounts whose 14-day warning is due at the same sweep, in pages of 2 per shard
    for account_id in IDS:
        event = load_event("account_created")
        event["id"] = f"create-{account_id}"
        event["detail"]["account_id"] = account_id
        wiring.runner.invoke("AccountEventsFunction", event)
    per_shard = Counter(due_shard_of(a, 4) for a in IDS)
    # when the scheduled sweep runs (the sweep queue drained behind it, as its event source would)
    responses = wiring.tick(CREATED + timedelta(days=17))
    # then the scheduled invocation itself did at most one page per shard
    assert sum(responses["SweepFunction"]["totals"].values()) == sum(min(n, 2) for n in per_shard.values())
    # and the rest arrived as one-page invocations from the sweep queue
    pages = [d for d in wiring.deliveries if d.function == "SweepFunction"]
    assert len(pages) >= sum((n - 1) // 2 for n in per_shard.values())
    assert all(d.failed == 0 for d in pages)
    # and every account got its warning exactly once: none skipped, none done twice
    sent = Counter(e["subject"].split()[2] for e in emails())
    assert sent == dict.fromkeys(IDS, 1)
    assert all([int(w.days) for w in load(a).warnings] == [14] for a in IDS)
