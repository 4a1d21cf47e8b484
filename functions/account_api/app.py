"""The operator API (HTTP API, IAM-authorised)."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sundown.account_view import describe_account
from sundown.clock import from_epoch
from sundown.observability import logger, metrics, tracer

app = APIGatewayHttpResolver()


@app.get("/accounts/<account_id>")
@tracer.capture_method
def get_account(account_id: str) -> dict[str, Any]:
    # "Now" is the request's own time, as API Gateway stamped it.
    now = from_epoch(app.current_event.request_context.time_epoch / 1000)
    view = describe_account(account_id, now)
    if view is None:
        raise NotFoundError(f"no account {account_id!r}")
    return view


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
