"""The scheduled sweep. "Now" is the schedule's own time, never the wall clock."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from sundown.events import ScheduledSweep
from sundown.lifecycle import run_sweep
from sundown.observability import logger, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=ScheduledSweep)
def lambda_handler(event: ScheduledSweep, context: LambdaContext) -> dict[str, Any]:
    report = run_sweep(event.time)
    return {"time": event.time.isoformat(), "totals": report.totals}
