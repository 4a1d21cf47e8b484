"""AccountApiFunction behind the HTTP API route of the template."""

from __future__ import annotations

import json

from sundown.clock import parse_time
from tests.conftest import load_event

FN = "AccountApiFunction"


def test_sample_request_returns_the_account(wiring):
    wiring.runner.invoke("AccountEventsFunction", load_event("account_created"))
    response = wiring.runner.invoke(FN, load_event("api_get_account"))
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["account_id"] == "acme"
    assert (body["plan"], body["status"], body["support"]) == ("free", "active", False)
    assert body["suspend_at"] == "2026-01-31T09:00:00Z"
    assert body["delete_at"] == "2026-02-07T09:00:00Z"
    assert body["warnings_sent"] == [] and body["hold"] is None
    assert "owner_email" not in body


def test_unknown_account_is_404(wiring):
    status, body = wiring.http("GET", "/accounts/nobody", parse_time("2026-01-01T00:00:00Z"))
    assert status == 404
    assert "nobody" in body["message"]
