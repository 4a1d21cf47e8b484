"""Stripe subscription events: paid accounts are safe; when the paid period ends they roll back to Free."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any, Literal

from pynamodb.exceptions import PutError

from sundown import events
from sundown.clock import from_epoch
from sundown.errors import InvalidEvent, LoginRefused, UnknownAccount
from sundown.models import AccountModel, SubscriptionState, is_conditional_failure, load
from sundown.observability import count, logger
from sundown.policy import any_paid, commercial_next_action_at, idle_since, new_cycle, next_action_at
from sundown.runtime import runtime

BillingOutcome = Literal["applied", "duplicate", "stale", "refused"]

# Stripe stamps events to the second; keep the ids seen at the newest second to tell duplicates apart.
_IDS_KEPT = 20


def apply_subscription_event(envelope: events.StripeSubscriptionEvent) -> BillingOutcome:
    """Apply one Stripe event once: Powertools idempotency keyed by the Stripe event id.

    The fold below is itself duplicate- and order-safe; the idempotency record spares a redelivery
    the account read, and returns the first outcome.
    """
    return _idempotent_apply()(envelope=envelope)


def register_invocation(context: Any) -> None:
    """Let idempotency expire an in-progress record when this invocation would time out."""
    _idempotency_config().register_lambda_context(context)


@cache
def _idempotency_config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath="detail.id", expires_after_seconds=7 * 24 * 3600)


@cache
def _idempotent_apply() -> Callable[..., BillingOutcome]:
    # Built on first use: the table name comes from the settings, and the client is made once.
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    persistence = DynamoDBPersistenceLayer(table_name=runtime().settings.idempotency_table)
    return idempotent_function(
        _apply_subscription_event,
        data_keyword_argument="envelope",
        config=_idempotency_config(),
        persistence_store=persistence,
    )


def _apply_subscription_event(envelope: events.StripeSubscriptionEvent) -> BillingOutcome:
    stripe_event = envelope.detail
    subscription = stripe_event.data.object
    account_id = subscription.account_id
    if account_id is None:
        raise InvalidEvent(
            "data.object.metadata.account_id is missing: the subscription must name the Sundown account",
            event_id=stripe_event.id,
        )
    for _ in range(5):
        account = load(account_id)
        if account is None:
            raise UnknownAccount(
                f"no account {account_id!r}", event_id=stripe_event.id, account_id=account_id
            )
        outcome = _apply(account, stripe_event)
        if outcome != "applied":
            logger.info(
                "stripe event skipped", extra={"outcome": outcome, "stripe_event_id": stripe_event.id}
            )
            return outcome
        try:
            account.save()  # conditioned on the version we read
        except PutError as error:
            if not is_conditional_failure(error):
                raise
            continue
        return "applied"
    raise RuntimeError(f"account {account_id!r} kept changing while applying {stripe_event.id}; will retry")


def _apply(account: AccountModel, stripe_event: events.StripeEvent) -> BillingOutcome:
    """Fold one Stripe event into the account, in memory. "Now" is the Stripe event's ``created``."""
    if account.status in ("purging", "deleted"):
        count("BillingRefused")
        raise LoginRefused(
            f"account {account.account_id!r} is {account.status}; a subscription can't bring it back",
            event_id=stripe_event.id,
            account_id=account.account_id,
        )
    sub = stripe_event.data.object
    now = stripe_event.created_at
    states = list(account.subscriptions or [])
    state = next((s for s in states if s.subscription_id == sub.id), None)
    if state is not None:
        if stripe_event.id in (state.last_event_ids or []):
            return "duplicate"
        if now < state.last_event_created:
            return "stale"  # an older event than one already applied to this subscription
    else:
        state = SubscriptionState(subscription_id=sub.id, last_event_created=now, last_event_ids=[])
        states.append(state)

    ended = stripe_event.type == "customer.subscription.deleted"
    state.status = "canceled" if ended else sub.status
    state.cancel_at_period_end = sub.cancel_at_period_end
    state.current_period_end = sub.period_end
    # Stripe only sets ended_at on a subscription that ended; the event's time stands in when it is absent.
    state.ended_at = (from_epoch(sub.ended_at) if sub.ended_at else now) if ended else None
    kept = state.last_event_ids if now == state.last_event_created else []
    state.last_event_ids = [*kept, stripe_event.id][-_IDS_KEPT:]
    state.last_event_created = now
    account.subscriptions = states

    settle_plan(account, now, downgrade_at=state.ended_at if ended else now)
    return "applied"


def settle_plan(account: AccountModel, now: datetime, *, downgrade_at: datetime | None = None) -> str | None:
    """Put plan, idle cycle and due-index entry in line with the subscriptions at ``now``.

    Returns ``"upgraded"`` or ``"rolled_back"`` when the plan changed.
    """
    rt = runtime()
    terms = account.subscription_terms()
    shards = rt.settings.due_index_shards
    if any_paid(terms, now):
        changed = account.plan != "commercial"
        if changed:
            account.plan = "commercial"
            account.clear_cycle()  # a paid account has no idle clock
            count("Upgraded")
        account.schedule(commercial_next_action_at(terms, now), shards)
        return "upgraded" if changed else None
    if account.plan != "commercial":
        return None
    # Rolled back to Free: the idle clock starts again at the downgrade.
    account.plan = "free"
    account.downgraded_at = downgrade_at or now
    start = idle_since(account.last_activity_at, account.created_at, account.downgraded_at)
    cycle = new_cycle(start, rt.policy)
    account.clear_cycle()
    account.apply_cycle(cycle, warnings=[])
    account.schedule(next_action_at(cycle, rt.policy), shards)
    count("RolledBack")
    logger.info("rolled back to free", extra={"account_id": account.account_id, "downgraded_at": str(start)})
    return "rolled_back"
