"""How events reach the domain: an SQS batch (the deployed path) or one EventBridge envelope (sam local invoke).

One bad record never fails its batch-mates, and nothing is lost:
- an event that can never succeed (malformed, unknown account, refused) is logged once, as a structured
  error naming the field and the event id, and is not retried;
- any other error (throttling, a network fault) fails just that record, so SQS redelivers it and, after
  ``maxReceiveCount`` tries, moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import parse
from pydantic import ValidationError

from sundown.clock import from_epoch
from sundown.errors import InvalidEvent, RejectedEvent
from sundown.observability import count, logger


@dataclass(frozen=True)
class Delivery:
    """How a message arrived: its SQS sent time (the event's own "now") and the Lambda context."""

    sent_at: datetime | None
    context: Any


def consume(
    event: dict[str, Any],
    context: Any,
    model: Any,
    handle: Callable[..., object],
    *,
    with_delivery: bool = False,
) -> PartialItemFailureResponse | dict[str, Any]:
    """Parse each event into ``model`` and pass it to ``handle`` (with its ``Delivery`` if asked)."""
    if isinstance(event, dict) and "Records" in event:
        # Report every failure the same way, even when the whole batch fails.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(
            event=event,
            record_handler=lambda record: _consume_record(record, context, model, handle, with_delivery),
            processor=processor,
            context=context,
        )
    delivery = Delivery(sent_at=None, context=context) if with_delivery else None
    return {"outcome": _consume_one(event, model, handle, event_id=_envelope_id(event), delivery=delivery)}


def _consume_record(
    record: SQSRecord, context: Any, model: Any, handle: Callable[..., object], with_delivery: bool
) -> object:
    try:
        body = json.loads(record.body)
    except (TypeError, ValueError) as error:
        _reject(InvalidEvent(f"SQS body is not JSON: {error}", event_id=record.message_id))
        return "rejected"
    delivery = None
    if with_delivery:
        sent = record.attributes.sent_timestamp
        delivery = Delivery(sent_at=from_epoch(int(sent) / 1000) if sent else None, context=context)
    return _consume_one(
        body, model, handle, event_id=_envelope_id(body) or record.message_id, delivery=delivery
    )


def _consume_one(
    raw: Any,
    model: Any,
    handle: Callable[..., object],
    *,
    event_id: str | None,
    delivery: Delivery | None = None,
) -> object:
    try:
        parsed = parse(event=raw, model=model)
    except ValidationError as error:
        _reject(InvalidEvent("event failed validation", event_id=event_id), errors=_field_errors(error))
        return "rejected"
    try:
        return handle(parsed) if delivery is None else handle(parsed, delivery)
    except RejectedEvent as error:
        error.event_id = error.event_id or event_id
        _reject(error)
        return error.reason


def _reject(error: RejectedEvent, errors: list[dict[str, str]] | None = None) -> None:
    count("EventsRejected")
    logger.error(
        str(error),
        extra={"reason": error.reason, "event_id": error.event_id, "errors": errors or [], **error.context},
    )


def _field_errors(error: ValidationError) -> list[dict[str, str]]:
    """One entry per problem, each naming its field as a dotted path (``detail.account_id``)."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "(event)", "problem": e["msg"], "type": e["type"]}
        for e in error.errors(include_url=False, include_input=False)
    ]


def _envelope_id(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    detail = raw.get("detail")
    # For Stripe the Stripe event id is the one an operator searches for.
    if (
        isinstance(detail, dict)
        and isinstance(detail.get("id"), str)
        and str(raw.get("source", "")).startswith("aws.partner/stripe.com")
    ):
        return detail["id"]
    value = raw.get("id")
    return value if isinstance(value, str) else None
