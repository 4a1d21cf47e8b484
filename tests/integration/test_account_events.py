"""AccountEventsFunction with the sample events, as `sam local invoke` and the SQS event source call it."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from sundown.clock import parse_time
from sundown.models import load
from tests.conftest import load_event

FN = "AccountEventsFunction"


def sqs_batch(*bodies: object) -> dict:
    return {
        "Records": [
            {
                "messageId": f"msg-{n}",
                "receiptHandle": f"rh-{n}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


def test_account_created_starts_an_idle_cycle_from_the_event_time(wiring):
    # given the sample AccountCreated event
    event = load_event("account_created")
    # when the function receives it directly (sam local invoke)
    wiring.runner.invoke(FN, event)
    # then the account exists, free and active, with deadlines counted from the event's own time
    account = load("acme")
    created = parse_time(event["time"])
    assert (account.plan, account.status) == ("free", "active")
    assert account.owner_email == "alice@acme.example"
    assert account.suspend_at == created + timedelta(days=30)
    assert account.delete_at == created + timedelta(days=37)
    assert account.next_action_at == created + timedelta(days=16)  # the 14-day warning
    assert account.due_shard is not None


def test_a_redelivered_account_created_does_not_reset_the_account(wiring):
    wiring.runner.invoke(FN, load_event("account_created"))
    wiring.runner.invoke(FN, load_event("user_logged_in"))
    before = load("acme")
    # when AccountCreated arrives again
    wiring.runner.invoke(FN, load_event("account_created"))
    # then the login is still what counts
    after = load("acme")
    assert after.last_activity_at == before.last_activity_at
    assert after.suspend_at == before.suspend_at


def test_login_restarts_the_cycle_from_the_login(wiring):
    wiring.runner.invoke(FN, load_event("account_created"))
    login = load_event("user_logged_in")
    # when a user logs in (delivered through SQS, as deployed)
    response = wiring.runner.invoke(FN, load_event("sqs_account_events"))
    # then nothing failed and the deadline counts from the login
    assert response == {"batchItemFailures": []}
    account = load("acme")
    assert account.last_activity_at == parse_time(login["time"])
    assert account.suspend_at == parse_time(login["time"]) + timedelta(days=30)


def test_activity_event_counts_like_a_login(wiring):
    wiring.runner.invoke(FN, load_event("account_created"))
    activity = load_event("account_activity")
    wiring.runner.invoke(FN, activity)
    assert load("acme").last_activity_at == parse_time(activity["time"])


def test_an_older_login_delivered_late_changes_nothing(wiring):
    wiring.runner.invoke(FN, load_event("account_created"))
    wiring.runner.invoke(FN, load_event("account_activity"))  # Jan 12
    before = load("acme")
    wiring.runner.invoke(FN, load_event("user_logged_in"))  # Jan 10, out of order
    after = load("acme")
    assert after.last_activity_at == before.last_activity_at
    assert after.version == before.version


def test_login_for_unknown_account_is_logged_with_its_id_and_not_retried(wiring, caplog):
    event = load_event("user_logged_in")
    event["detail"]["account_id"] = "nobody"
    with caplog.at_level(logging.ERROR):
        response = wiring.runner.invoke(FN, sqs_batch(event))
    assert response == {"batchItemFailures": []}  # no point retrying it
    assert load("nobody") is None
    error = _logged_error(caplog)
    assert error["reason"] == "unknown_account"
    assert error["event_id"] == event["id"]


def test_malformed_event_names_the_field_and_does_not_fail_its_batch_mates(wiring, caplog):
    wiring.runner.invoke(FN, load_event("account_created"))
    bad = load_event("user_logged_in")
    bad["detail"]["account_id"] = 42
    good = load_event("account_activity")
    with caplog.at_level(logging.ERROR):
        response = wiring.runner.invoke(FN, sqs_batch(bad, "not json at all", good))
    assert response == {"batchItemFailures": []}
    assert load("acme").last_activity_at == parse_time(good["time"])
    errors = _logged_errors(caplog)
    assert errors[0]["event_id"] == bad["id"]
    assert any(e["field"].endswith("detail.account_id") for e in errors[0]["errors"])
    assert errors[1]["event_id"] == "msg-1" and "not JSON" in errors[1]["message"]


def test_unknown_detail_type_is_rejected_by_name(wiring, caplog):
    event = load_event("user_logged_in")
    event["detail-type"] = "UserLoggedOut"
    with caplog.at_level(logging.ERROR):
        wiring.runner.invoke(FN, event)
    error = _logged_error(caplog)
    assert error["reason"] == "invalid_event"
    assert "UserLoggedOut" in json.dumps(error["errors"])


def test_transient_aws_error_fails_only_that_record_so_sqs_retries_it(wiring, monkeypatch):
    wiring.runner.invoke(FN, load_event("account_created"))
    from pynamodb.connection.base import Connection

    real = Connection.update_item

    def throttled(self, *args, **kwargs):
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "UpdateItem",
        )

    monkeypatch.setattr(Connection, "update_item", throttled)
    response = wiring.runner.invoke(FN, sqs_batch(load_event("user_logged_in")))
    monkeypatch.setattr(Connection, "update_item", real)
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert load("acme").last_activity_at is None  # nothing half-written


def test_routed_login_reaches_the_function_through_the_rule_and_queue(wiring):
    # given the template's EventBridge rule and SQS event source
    wiring.publish(load_event("account_created"))
    deliveries = wiring.publish(load_event("user_logged_in"))
    # then the login was delivered as an SQS batch to AccountEventsFunction
    assert [(d.function, d.records, d.failed) for d in deliveries] == [(FN, 1, 0)]
    assert load("acme").last_activity_at is not None


@pytest.mark.parametrize("status", ["purging", "deleted"])
def test_login_after_the_purge_started_is_refused_and_changes_nothing(wiring, caplog, status):
    wiring.runner.invoke(FN, load_event("account_created"))
    account = load("acme")
    account.status = status
    account.save()
    with caplog.at_level(logging.ERROR):
        wiring.runner.invoke(FN, load_event("user_logged_in"))
    assert load("acme").status == status
    assert load("acme").last_activity_at is None
    assert _logged_error(caplog)["reason"] == "login_refused"


def _logged_errors(caplog) -> list[dict]:
    out = []
    for record in caplog.records:
        if record.levelno >= logging.ERROR and hasattr(record, "reason"):
            out.append(
                {
                    "message": record.getMessage(),
                    "reason": record.reason,
                    "event_id": record.event_id,
                    "errors": record.errors,
                }
            )
    assert out, "expected a structured error log"
    return out


def _logged_error(caplog) -> dict:
    return _logged_errors(caplog)[0]


def test_a_burst_of_logins_inside_the_coalescing_window_costs_one_write(wiring):
    from pynamodb.connection.base import Connection

    wiring.runner.invoke(FN, load_event("account_created"))
    writes = []
    real = Connection.update_item

    def counting(self, *args, **kwargs):
        writes.append(args[:1])
        return real(self, *args, **kwargs)

    # given 30 logins to one account within 45 minutes, in batches as SQS delivers them
    logins = []
    for minute in range(0, 45, 3):
        for user in ("nid-a", "nid-b"):
            event = load_event("user_logged_in")
            event["id"] = f"login-{minute}-{user}"
            event["time"] = f"2026-01-10T08:{minute:02d}:00Z"
            event["detail"]["network_id"] = user
            logins.append(event)
    Connection.update_item = counting
    try:
        for start in range(0, len(logins), 10):
            assert wiring.runner.invoke(FN, sqs_batch(*logins[start : start + 10])) == {
                "batchItemFailures": []
            }
    finally:
        Connection.update_item = real
    # then one write recorded the first; the others, inside the hour, cost nothing
    assert len(writes) == 1
    assert load("acme").last_activity_at == parse_time("2026-01-10T08:00:00Z")
    # and a login after the window writes again
    later = load_event("user_logged_in")
    later["time"] = "2026-01-10T09:05:00Z"
    wiring.runner.invoke(FN, later)
    assert load("acme").last_activity_at == parse_time("2026-01-10T09:05:00Z")
