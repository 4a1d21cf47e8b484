"""An exception injected at every AWS call of a sweep step, in turn: after redelivery, all is consistent.

Each case fails the Nth AWS call of one sweep (a warning, the suspension, the purge start), lets the
schedule redeliver the same sweep, then lets time run on. The end state must equal the fault-free run's,
and no stage may go out twice. A crash between claiming a stage and confirming it leaves the outcome
unknown (SES has no idempotency key): the stage then counts as attempted and is never sent again, so
at most one stage can be missing. The suspension notice is the opposite trade: the purge must never
run without a notice known to have gone out, so when the fault swallows its confirmation it is sent
again (at least once).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from sundown.clock import parse_time
from sundown.models import load
from tests.conftest import load_event

CREATED = parse_time(load_event("account_created")["time"])
SWEEPS = [CREATED + timedelta(days=d) for d in (16, 23, 27, 29, 30, 37)]  # 4 warnings, suspension, purge


def run_history(wiring, fail_sweep: int | None, fail_call: int | None) -> list[str]:
    """Every sweep of the history; sweep ``fail_sweep`` fails its ``fail_call``-th AWS call."""
    real = BaseClient._make_api_call
    calls: list[str] = []
    injected: list[str] = []

    def faulty(self, operation, params):
        calls.append(operation)
        if fail_call is not None and len(calls) == fail_call:
            injected.append(operation)
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "injected"}}, operation)
        return real(self, operation, params)

    wiring.runner.invoke("AccountEventsFunction", load_event("account_created"))
    for n, at in enumerate(SWEEPS):
        if n == fail_sweep:
            BaseClient._make_api_call = faulty
            try:
                wiring.tick(at)
            except Exception:  # noqa: BLE001 - the injected fault fails the sweep, as it would in Lambda
                pass
            finally:
                BaseClient._make_api_call = real
            wiring.tick(at)  # the schedule's retry: the same scheduled time
            wiring.tick(at + timedelta(hours=1))  # and the next hourly sweep
        else:
            wiring.tick(at)
    return injected


def outcome(wiring, emails) -> tuple[str, Counter[str]]:
    subjects = Counter(e["subject"].split(" will be suspended")[0] + e["body"][-20:] for e in emails())
    return load("acme").status, subjects


@pytest.mark.parametrize("fail_sweep", [0, 4, 5], ids=["warning", "suspension", "purge"])
@pytest.mark.parametrize("fail_call", range(1, 9))
def test_a_fault_at_any_call_of_a_sweep_step_ends_consistent(wiring, emails, fail_sweep, fail_call):
    injected = run_history(wiring, fail_sweep, fail_call)
    status, sent = outcome(wiring, emails)
    # the account still went all the way: warned four times, suspended, purged, confirmed
    assert status == "deleted", (injected, status)
    kinds = Counter()
    for subject, n in sent.items():
        kind = (
            "deleted"
            if "has been deleted" in subject
            else "suspended"
            if "is suspended" in subject
            else subject
        )
        kinds[kind] += n
    # warnings at most once each, whatever the fault
    assert all(n == 1 for k, n in sent.items() if "is suspended" not in k), (injected, sent)
    # the notice at least once: twice only when the fault hit the write confirming it
    assert kinds["suspended"] == 1 or (kinds["suspended"] == 2 and injected == ["PutItem"]), (injected, sent)
    assert kinds["deleted"] == 1, (injected, sent)
    assert len(sent) >= 5, (injected, sent)
    assert load("acme").certificate["verification"]["result"] == "verified"
