"""The deployed stack's event routing, replayed on an embedded AWS.

Events go where template.yaml sends them: EventBridge rule patterns pick targets, SQS event sources
deliver batches (with partial batch failures and the queue's redrive policy), schedules pass their
Input with the scheduled time filled in, and HTTP API routes reach their function. A change to the
template's wiring shows up here, in the demo and in the tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sundown_local.aws import client
from sundown_local.event_pattern import event_pattern_matches
from sundown_local.runner import FunctionRunner
from sundown_local.stack import LocalStack


@dataclass
class Delivery:
    function: str
    records: int
    failed: int
    response: Any = None


@dataclass
class Wiring:
    stack: LocalStack
    runner: FunctionRunner
    deliveries: list[Delivery] = field(default_factory=list)
    # The simulated "now": stamped on SQS records as their SentTimestamp, as SQS stamps real time.
    clock: datetime | None = None
    _sqs_sources: dict[str, str] | None = None
    _function_specs: dict[str, Any] | None = None

    @classmethod
    def of(cls, stack: LocalStack, extra_env: dict[str, str] | None = None) -> Wiring:
        return cls(stack=stack, runner=FunctionRunner(stack, extra_env=extra_env))

    # --- EventBridge -> SQS -> function ---------------------------------------------------------

    def put_event(self, event: dict[str, Any], bus: str | None = None) -> list[str]:
        """Route one EventBridge event by the template's rules; returns the targets it reached."""
        sqs = client("sqs")
        reached = []
        for rule in self.stack.rules():
            if bus is not None and rule["event_bus_name"] != bus:
                continue
            if rule["state"] != "ENABLED" or not event_pattern_matches(rule["event_pattern"], event):
                continue
            for target in rule["targets"]:
                queue = target["resource"]
                if queue in self.stack.queue_urls:
                    sqs.send_message(QueueUrl=self.stack.queue_urls[queue], MessageBody=json.dumps(event))
                    reached.append(queue)
        return reached

    def drain(self, max_rounds: int = 20) -> list[Delivery]:
        """Deliver every queued message to its function, batch by batch, as Lambda's poller would."""
        sqs = client("sqs")
        done: list[Delivery] = []
        for _ in range(max_rounds):
            progressed = False
            for queue_id, function_id in self._subscriptions().items():
                url = self.stack.queue_urls[queue_id]
                batch_size = self._batch_size(function_id)
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), AttributeNames=["All"]
                ).get("Messages", [])
                if not messages:
                    continue
                progressed = True
                event = {"Records": [self._record(m, queue_id) for m in messages]}
                response = self.runner.invoke(function_id, event)
                failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
                for message in messages:
                    if message["MessageId"] in failed:
                        # Visible again at once, so the redrive policy counts the next receive.
                        sqs.change_message_visibility(
                            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                        )
                    else:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                done.append(Delivery(function_id, len(messages), len(failed), response))
            if not progressed:
                break
        self.deliveries.extend(done)
        return done

    def publish(self, event: dict[str, Any]) -> list[Delivery]:
        self.put_event(event)
        return self.drain()

    def drain_all(self, max_rounds: int = 1000) -> list[Delivery]:
        """Drain until every queue is empty (a purge re-enqueues itself until it is done)."""
        return self.drain(max_rounds=max_rounds)

    # --- Schedules ------------------------------------------------------------------------------

    def tick(self, at: datetime, drain: bool = True) -> dict[str, Any]:
        """Fire every ScheduleV2/Schedule event source at ``at``, then deliver what they enqueued."""
        self.clock = at
        responses = {}
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for function_id, function in self._functions().items():
            for source in function["events"].values():
                if source.get("Type") not in ("ScheduleV2", "Schedule"):
                    continue
                raw = self.stack.resolve(source.get("Properties", {}).get("Input"))
                payload = (
                    json.loads(raw.replace("<aws.scheduler.scheduled-time>", stamp))
                    if raw
                    else {"time": stamp}
                )
                responses[function_id] = self.runner.invoke(function_id, payload)
        if drain:
            self.drain_all()
        return responses

    # --- HTTP API -------------------------------------------------------------------------------

    def http(self, method: str, path: str, at: datetime, body: Any = None) -> tuple[int, Any]:
        for function_id, function in self._functions().items():
            for source in function["events"].values():
                if source.get("Type") != "HttpApi":
                    continue
                props = source.get("Properties", {})
                params = _match_route(props.get("Path", ""), path)
                if props.get("Method", "").upper() != method.upper() or params is None:
                    continue
                event = _http_event(method, path, props["Path"], params, at, body)
                response = self.runner.invoke(function_id, event)
                payload = response.get("body")
                return response["statusCode"], json.loads(payload) if payload else None
        return 404, {"message": f"no route for {method} {path}"}

    def _functions(self) -> dict[str, Any]:
        if self._function_specs is None:
            self._function_specs = self.stack.functions()
        return self._function_specs

    def _subscriptions(self) -> dict[str, str]:
        if self._sqs_sources is None:  # the template doesn't change while it runs
            self._sqs_sources = self.stack.sqs_subscriptions()
        return self._sqs_sources

    def _batch_size(self, function_id: str) -> int:
        for source in self._functions()[function_id]["events"].values():
            if source.get("Type") == "SQS":
                return int(source.get("Properties", {}).get("BatchSize", 10))
        return 10

    def _record(self, message: dict[str, Any], queue_id: str) -> dict[str, Any]:
        attributes = dict(message.get("Attributes", {}))
        if self.clock is not None:
            attributes["SentTimestamp"] = str(int(self.clock.timestamp() * 1000))
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.stack.queue_arns[queue_id],
            "awsRegion": self.stack.region,
        }


def _match_route(route: str, path: str) -> dict[str, str] | None:
    pattern = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(route)) + "$"
    found = re.match(pattern, path.split("?")[0])
    return found.groupdict() if found else None


def _http_event(
    method: str, path: str, route: str, params: dict[str, str], at: datetime, body: Any
) -> dict[str, Any]:
    raw_path, _, query = path.partition("?")
    query_params = dict(p.split("=", 1) for p in query.split("&") if "=" in p) or None
    return {
        "version": "2.0",
        "routeKey": f"{method.upper()} {route}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json"},
        "queryStringParameters": query_params,
        "pathParameters": params,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "authorizer": {"iam": {"userArn": "arn:aws:iam::123456789012:user/operator"}},
            "domainName": "localhost",
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
            },
            "requestId": "local",
            "routeKey": f"{method.upper()} {route}",
            "stage": "$default",
            "time": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(at.timestamp() * 1000),
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
