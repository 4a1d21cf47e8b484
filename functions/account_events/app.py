"""Account events (AccountCreated, UserLoggedIn, AccountActivity), delivered in SQS batches."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sundown.accounts import apply_product_event
from sundown.delivery import consume
from sundown.events import ProductEvent
from sundown.observability import logger, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, ProductEvent, apply_product_event)
