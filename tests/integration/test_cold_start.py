"""Each function works when it is the first thing a fresh execution environment runs."""

from __future__ import annotations

import pytest

from tests.conftest import load_event

FIRST_CALLS = [
    ("AccountEventsFunction", "account_created"),
    ("AccountEventsFunction", "sqs_account_events"),
    ("AccountEventsFunction", "network_id_deletion_requested"),
    ("BillingEventsFunction", "stripe_subscription_created"),
    ("SweepFunction", "sweep_schedule"),
    ("AccountApiFunction", "api_get_account"),
    ("PurgeWorkerFunction", "sqs_purge_request"),
]


@pytest.mark.parametrize(("function", "sample"), FIRST_CALLS)
def test_first_invocation_in_a_fresh_environment_needs_nothing_set_up_before(wiring, function, sample):
    from sundown.models import AccountModel
    from sundown.runtime import reset

    # given nothing has run in this "execution environment" yet
    reset()
    assert AccountModel.Meta.table_name == "unbound"
    # when the function's sample event is its first invocation
    response = wiring.runner.invoke(function, load_event(sample))
    # then it answered (a 404 / rejected event is fine: the account doesn't exist) instead of crashing
    assert response is not None
    assert AccountModel.Meta.table_name == wiring.stack.physical_names["AccountsTable"]
    if "statusCode" in response:
        assert response["statusCode"] in (200, 404)
    if "batchItemFailures" in response:
        assert response["batchItemFailures"] == []
