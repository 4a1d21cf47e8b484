"""Stripe subscription events from Stripe's EventBridge integration, delivered in SQS batches."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sundown.billing import apply_subscription_event, register_invocation
from sundown.delivery import consume
from sundown.events import StripeSubscriptionEvent
from sundown.observability import logger, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    register_invocation(context)
    return consume(event, context, StripeSubscriptionEvent, apply_subscription_event)
