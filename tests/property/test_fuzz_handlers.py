"""Fuzzing every handler with malformed input: the only outcome allowed is a clean, logged rejection.

No unhandled exception may escape the domain code, nothing may be retried forever, and no state may
change. (Each example reuses one stack: a rejected event writes nothing.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import load_event

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
huge = st.builds(lambda n: "x" * n, st.sampled_from([1_000, 100_000, 1_000_000]))

SAMPLES = {
    "AccountEventsFunction": [
        "account_created",
        "user_logged_in",
        "account_activity",
        "network_id_deletion_requested",
    ],
    "BillingEventsFunction": [
        "stripe_subscription_created",
        "stripe_subscription_updated",
        "stripe_subscription_deleted",
    ],
}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated_sample(draw: st.DrawFn, function: str) -> dict[str, Any]:
    event = load_event(draw(st.sampled_from(SAMPLES[function])))
    path = draw(st.sampled_from(paths(event)))
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["drop", "retype", "huge"]))
    if action == "drop" and isinstance(parent, dict):
        parent.pop(path[-1], None)
    elif action == "huge":
        parent[path[-1]] = draw(huge)
    else:
        parent[path[-1]] = draw(json_values)
    return event


def bodies(function: str) -> st.SearchStrategy[str]:
    return st.one_of(
        mutated_sample(function).map(json.dumps),
        json_values.map(json.dumps),
        st.text(max_size=200),  # not JSON at all
        st.just(""),
    )


def sqs_event(bodies_: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"fuzz-{n}",
                "receiptHandle": "rh",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1767261600000"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies_)
        ]
    }


@pytest.fixture(scope="module")
def stack():
    from sundown_local.embedded import embedded_stack

    with embedded_stack(
        function_env={"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
    ) as w:
        yield w


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("function", ["AccountEventsFunction", "BillingEventsFunction"])
def test_sqs_consumers_reject_malformed_records_cleanly(stack, function):
    @FUZZ
    @given(batch=st.lists(bodies(function), min_size=1, max_size=4))
    def run(batch: list[str]) -> None:
        response = stack.runner.invoke(function, sqs_event(batch))
        # a rejection is logged and acknowledged: no exception escapes, nothing is retried forever
        # (a mutation that left the event valid is simply applied)
        assert response == {"batchItemFailures": []}

    run()


@pytest.mark.parametrize("function", ["AccountEventsFunction", "BillingEventsFunction"])
def test_direct_invocations_with_wrong_envelopes_are_rejected(stack, function):
    @FUZZ
    @given(
        event=st.one_of(
            mutated_sample(function), st.dictionaries(st.text(max_size=10), json_values, max_size=5)
        )
    )
    def run(event: dict[str, Any]) -> None:
        if "Records" in event:
            return  # that's the SQS shape, covered above
        response = stack.runner.invoke(function, event)
        assert response["outcome"] in (
            *("rejected", "invalid_event", "unknown_account", "login_refused"),
            *(
                "created",
                "already_exists",
                "reactivated",
                "recorded",
                "already_recorded",
                "coalesced",
            ),  # still valid
            *("applied", "duplicate", "stale", "refused", "deleted", "already_deleted"),
        )

    run()


def test_purge_worker_rejects_malformed_requests(stack):
    purge_request = st.fixed_dictionaries(
        {},
        optional={
            "account_id": st.one_of(st.text(max_size=40), st.just("../etc"), st.just("a/b"), huge),
            "requested_at": st.one_of(st.text(max_size=30), st.integers(), st.just("2026-01-01T00:00:00Z")),
        },
    )

    @FUZZ
    @given(body=st.one_of(purge_request.map(json.dumps), st.text(max_size=50)))
    def run(body: str) -> None:
        response = stack.runner.invoke("PurgeWorkerFunction", sqs_event([body]))
        assert response == {"batchItemFailures": []}

    run()


def test_hold_api_answers_400_or_404_to_any_body(stack):
    from datetime import UTC, datetime

    @FUZZ
    @given(body=json_values, account_id=st.text(alphabet="abcdefghij-_.%20", min_size=1, max_size=20))
    def run(body: Any, account_id: str) -> None:
        status, answer = stack.http(
            "PUT", f"/accounts/{account_id}/hold", datetime(2026, 1, 1, tzinfo=UTC), body
        )
        assert status in (400, 404), answer

    run()
