"""What the operator API answers about an account (SPEC: GET /accounts/{account_id})."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sundown.clock import iso
from sundown.models import AccountModel, load
from sundown.policy import any_paid
from sundown.runtime import runtime


def describe_account(account_id: str, now: datetime) -> dict[str, Any] | None:
    """The account's state as the API shows it, or None when it is unknown.

    ``now`` only decides ``support``: whether a paid subscription is active at that moment.
    """
    runtime()  # settings and table bindings on first use
    account = load(account_id)
    return None if account is None else account_view(account, now)


def account_view(account: AccountModel, now: datetime) -> dict[str, Any]:
    if account.status == "deleted":
        # The tombstone: no personal data, the certificate of what was deleted and verified.
        return {
            "account_id": account.account_id,
            "status": "deleted",
            "plan": account.plan,
            "deleted_at": iso(account.deleted_at),
            "reason": account.deletion_reason,
            "certificate": account.certificate,
            "support": False,
        }
    paid = account.plan == "commercial" and any_paid(account.subscription_terms(), now)
    return {
        "account_id": account.account_id,
        "plan": account.plan,
        "status": account.status,
        "last_activity_at": iso(account.last_activity_at),
        "suspend_at": iso(account.suspend_at),
        "delete_at": iso(account.delete_at),
        "warnings_sent": [
            {
                "days_before": int(w.days),
                # a warning counts back from the suspension, a grace-period reminder from the deletion
                "kind": w.kind,
                "sent_at": iso(w.sent_at),
                "confirmed": bool(w.confirmed),
            }
            for w in account.warnings or []
        ],
        "hold": None
        if account.hold is None
        else {
            "reason": account.hold.reason,
            "placed_at": iso(account.hold.placed_at),
            "until": iso(account.hold.until),
            "active": account.hold.active(now),
        },
        "support": paid,  # technical support is a commercial entitlement
        "next_action_at": iso(account.next_action_at),
    }
