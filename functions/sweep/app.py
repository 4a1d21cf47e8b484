"""The sweep: scheduled ("now" is the schedule's own time), and its fanned-out pages from the sweep queue."""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from sundown.delivery import consume
from sundown.events import ScheduledSweep, SweepContinuation
from sundown.lifecycle import continue_sweep, run_sweep
from sundown.observability import logger, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:  # pages fanned out on the sweep queue
        return consume(event, context, SweepContinuation, continue_sweep)
    schedule = parse(event=event, model=ScheduledSweep)
    report = run_sweep(schedule.time)
    return {"time": schedule.time.isoformat(), "totals": report.totals}
