"""The operator API (HTTP API, IAM-authorised): account state, legal holds, and the sweep's preview."""

from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from sundown import holds
from sundown.account_view import account_view, describe_account
from sundown.clock import from_epoch, iso
from sundown.events import HoldRequest, PreviewQuery
from sundown.lifecycle import preview
from sundown.observability import logger, metrics, tracer

app = APIGatewayHttpResolver()


def request_time() -> datetime:
    """ "Now" is the request's own time, as API Gateway stamped it."""
    return from_epoch(app.current_event.request_context.time_epoch / 1000)


@app.get("/accounts/<account_id>")
@tracer.capture_method
def get_account(account_id: str) -> dict[str, Any]:
    view = describe_account(account_id, request_time())
    if view is None:
        raise NotFoundError(f"no account {account_id!r}")
    return view


@app.put("/accounts/<account_id>/hold")
@tracer.capture_method
def put_hold(account_id: str) -> dict[str, Any]:
    body = HoldRequest.model_validate(app.current_event.json_body or {})
    now = request_time()
    return account_view(holds.place(account_id, body.reason, body.until, now), now)


@app.delete("/accounts/<account_id>/hold")
@tracer.capture_method
def delete_hold(account_id: str) -> dict[str, Any]:
    now = request_time()
    return account_view(holds.lift(account_id, now), now)


@app.get("/lifecycle/preview")
@tracer.capture_method
def get_preview() -> dict[str, Any]:
    query = PreviewQuery.model_validate(app.current_event.query_string_parameters or {})
    return {"at": iso(query.at), "actions": preview(query.at)}


@app.exception_handler(ValidationError)
def invalid_request(error: ValidationError) -> Response:
    problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in error.errors()]
    return Response(400, content_types.APPLICATION_JSON, {"message": "invalid request", "errors": problems})


@app.exception_handler(holds.HoldError)
def hold_error(error: holds.HoldError) -> Response:
    return Response(error.status, content_types.APPLICATION_JSON, {"message": str(error)})


@app.exception_handler(ValueError)
def bad_body(error: ValueError) -> Response:
    raise BadRequestError(str(error))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
