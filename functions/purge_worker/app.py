"""The purge worker: empties one tenant's stores from the purge queue, page by page, within its time."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sundown.delivery import consume
from sundown.events import PurgeRequest
from sundown.observability import logger, metrics, tracer
from sundown.purge import handle_purge_request


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, PurgeRequest, handle_purge_request, with_delivery=True)
