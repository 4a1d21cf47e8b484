"""Owner emails (sundown.notifications): rendering only; sending goes through SES and is not unit-tested."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from sundown.notifications import TEMPLATES, Email, render, suspension_notice, warning

SUSPEND_AT = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
DELETE_AT = datetime(2026, 2, 7, 9, 0, tzinfo=UTC)
TEMPLATE_FILES = sorted(TEMPLATES.glob("*.txt"))
# Every value any template may ask for.
ALL_VALUES = {
    "account_id": "acme",
    "days_before": 3,
    "suspend_date": SUSPEND_AT,
    "delete_date": DELETE_AT,
    "deleted_date": DELETE_AT,
    "network_id": "nid-acme-owner",
    "accounts": "acme, acme-labs",
}


def test_a_warning_names_the_account_and_both_dates() -> None:
    # when the 3-day warning is rendered
    email = warning("owner@acme.example", "acme-corp", 3, SUSPEND_AT, DELETE_AT)
    # then it goes to the owner and states the account, the suspension date and the deletion date
    assert isinstance(email, Email)
    assert email.to == "owner@acme.example"
    assert email.kind == "warning"
    assert "acme-corp" in email.subject
    assert "2026-01-31" in email.subject
    assert "acme-corp" in email.body
    assert "2026-01-31" in email.body
    assert "2026-02-07" in email.body
    assert "3-day" in email.body


def test_a_warning_states_dates_as_yyyy_mm_dd_without_a_time() -> None:
    email = warning("owner@acme.example", "acme", 14, SUSPEND_AT, DELETE_AT)
    text = email.subject + email.body
    assert "09:00" not in text
    assert "2026-01-31T" not in text
    assert set(re.findall(r"\d{4}-\d{2}-\d{2}", text)) == {"2026-01-31", "2026-02-07"}


def test_dates_are_utc_days_whatever_the_offset_of_the_given_time() -> None:
    # given times just after midnight at UTC+2, i.e. still the previous day in UTC
    plus_two = timezone(timedelta(hours=2))
    suspend_at = datetime(2026, 2, 1, 0, 30, tzinfo=plus_two)
    delete_at = datetime(2026, 2, 8, 1, 0, tzinfo=plus_two)
    email = warning("owner@acme.example", "acme", 1, suspend_at, delete_at)
    assert "2026-01-31" in email.subject
    assert "2026-01-31" in email.body
    assert "2026-02-07" in email.body
    assert "2026-02-01" not in email.body


def test_the_suspension_notice_names_the_account_and_the_deletion_date() -> None:
    email = suspension_notice("owner@acme.example", "acme-corp", DELETE_AT)
    assert email.to == "owner@acme.example"
    assert email.kind == "suspended"
    assert "acme-corp" in email.subject
    assert "2026-02-07" in email.subject
    assert "acme-corp" in email.body
    assert "2026-02-07" in email.body
    assert "suspended" in email.subject.lower()


def test_values_are_inserted_literally_not_reinterpreted() -> None:
    # an account id that looks like a placeholder is not expanded again
    email = suspension_notice("owner@acme.example", "$delete_date", DELETE_AT)
    assert "$delete_date" in email.subject
    assert "2026-02-07" in email.subject


def test_the_template_files_exist() -> None:
    names = {p.stem for p in TEMPLATE_FILES}
    assert {"warning", "suspended"} <= names


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_every_template_renders_without_leftover_placeholders(path: Path) -> None:
    # given every value a template may use, when each template file is rendered
    email = render(path.stem, "owner@acme.example", **ALL_VALUES)
    # then nothing that looks like a placeholder is left, and the subject line was split off
    assert email.subject
    assert email.body.strip()
    assert "$" not in email.subject
    assert "$" not in email.body
    assert not email.subject.startswith("Subject:")
    assert "Subject:" not in email.body
    assert "acme" in email.subject + email.body


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_every_template_rejects_a_missing_value(path: Path) -> None:
    # a typo in a placeholder must fail loudly rather than send "$acount_id" to a customer
    with pytest.raises(KeyError):
        render(path.stem, "owner@acme.example")
