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


def test_the_hold_and_preview_samples_work_as_sam_local_invoke_would_send_them(wiring):
    wiring.runner.invoke("AccountEventsFunction", load_event("account_created"))
    # a hold until the end of June
    placed = wiring.runner.invoke(FN, load_event("api_put_hold"))
    assert placed["statusCode"] == 200
    assert json.loads(placed["body"])["hold"]["until"] == "2026-06-30T00:00:00Z"
    # the preview on Jan 17: acme is held, so nothing is due for it
    preview = json.loads(wiring.runner.invoke(FN, load_event("api_preview"))["body"])
    assert preview["at"] == "2026-01-17T10:00:00Z" and preview["actions"] == []
    # lifting it (the sample is stamped Jan 31) restarts the idle clock from that moment
    lifted = wiring.runner.invoke(FN, load_event("api_delete_hold"))
    assert lifted["statusCode"] == 200 and json.loads(lifted["body"])["hold"] is None
    preview = json.loads(wiring.runner.invoke(FN, load_event("api_preview"))["body"])
    assert preview["actions"] == []
    _, view = wiring.http("GET", "/accounts/acme", parse_time("2026-02-01T00:00:00Z"))
    assert view["suspend_at"] == "2026-03-02T12:00:00Z"
