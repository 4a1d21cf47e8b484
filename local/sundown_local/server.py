"""A long-running local AWS (moto's server) with the stack deployed from template.yaml, and the
environments that point functions at it: this process (`sundown invoke`), or SAM CLI's containers
(`sam local invoke --env-vars env.json`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sundown_local.embedded import FAKE_AWS_ENV, verify_sender
from sundown_local.runner import REPO_ROOT
from sundown_local.stack import LocalStack
from sundown_local.template import load_template

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
DEFAULT_STACK_NAME = "sundown-local"
DEFAULT_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
CONTAINER_ENDPOINT = f"http://host.docker.internal:{DEFAULT_PORT}"
TEMPLATE = REPO_ROOT / "template.yaml"


class LocalStackUnavailable(RuntimeError):
    """No local AWS answers on the endpoint, or the stack is not deployed there."""


def aws_environment(endpoint: str) -> dict[str, str]:
    """Fake credentials, us-east-1, and every AWS SDK call sent to ``endpoint``."""
    return {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint}


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def start_local_stack(
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    stack_name: str = DEFAULT_STACK_NAME,
    template_path: Path = TEMPLATE,
    log_requests: bool = False,
) -> tuple[Any, LocalStack]:
    """Start moto's server in this process, point this process at it, and deploy the template's
    tables, bucket and queues there (and verify the SES sender). Returns ``(server, stack)``;
    the caller stops the server (``server.stop()``).
    """
    from moto.server import ThreadedMotoServer

    if not port_is_free(host, port):
        # ThreadedMotoServer would wait forever for a server that failed to bind.
        raise LocalStackUnavailable(f"{host}:{port} is already in use (another `sundown local`?)")
    if not log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        os.environ.update(aws_environment(f"http://{host}:{port}"))
        os.environ.pop("AWS_PROFILE", None)
        stack = LocalStack(load_template(template_path), stack_name=stack_name)
        stack.deploy()
        verify_sender(stack)
    except BaseException:
        server.stop()
        raise
    return server, stack


def attached_stack(
    endpoint: str = DEFAULT_ENDPOINT,
    stack_name: str = DEFAULT_STACK_NAME,
    template_path: Path = TEMPLATE,
    region: str = "us-east-1",
) -> LocalStack:
    """The stack `sundown local` deployed on ``endpoint``, described without calling it."""
    stack = LocalStack(load_template(template_path), stack_name=stack_name)
    stack.region = region
    return stack.attach(endpoint)


def check_reachable(stack: LocalStack, endpoint: str, timeout: float = 2.0) -> None:
    """Raise LocalStackUnavailable, with what to do about it, unless the stack is up on ``endpoint``."""
    parts = urlsplit(endpoint)
    if not parts.hostname:
        raise LocalStackUnavailable(f"{endpoint!r} is not a URL like http://127.0.0.1:4566")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                break
        except OSError as error:
            if time.monotonic() >= deadline:
                raise LocalStackUnavailable(
                    f"nothing answers on {endpoint} ({error.strerror or error}).\n"
                    f"Start the local stack first, in another terminal:  sundown local --port {port}"
                ) from error
            time.sleep(0.2)
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    table = stack.physical_names["AccountsTable"]
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=stack.region,
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}, connect_timeout=timeout, read_timeout=timeout),
    )
    try:
        client.describe_table(TableName=table)
    except (BotoCoreError, ClientError) as error:
        raise LocalStackUnavailable(
            f"{endpoint} answers, but table {table} of stack {stack.stack_name!r} is not there ({error}).\n"
            "Is it `sundown local` with the same --stack-name? Restart it with:  "
            f"sundown local --port {port} --stack-name {stack.stack_name}"
        ) from error


def function_environment(stack: LocalStack, logical_id: str, endpoint: str) -> dict[str, str]:
    """What Lambda would give the function (template.yaml's variables, resolved), pointed at ``endpoint``."""
    return {**stack.function_environment(logical_id), **aws_environment(endpoint)}


def env_json(
    endpoint_for_containers: str = CONTAINER_ENDPOINT,
    stack_name: str = DEFAULT_STACK_NAME,
    template_path: Path = TEMPLATE,
) -> dict[str, dict[str, str]]:
    """`sam local invoke --env-vars` content: per function, the variables template.yaml declares for it,
    resolved to the local stack, with the SDK's AWS_ENDPOINT_URL pointed at ``endpoint_for_containers``.

    Only declared variables: SAM CLI silently ignores any other (credentials and region come from the
    shell that runs `sam`). Queue URLs use the containers' endpoint too: moto finds a queue by the name
    in its URL, whatever the host, and a container can't reach 127.0.0.1 of the host.
    """
    stack = attached_stack(endpoint_for_containers, stack_name, template_path)
    result = {}
    for logical_id in sorted(stack.functions()):
        declared = stack.function_environment(logical_id)
        if "AWS_ENDPOINT_URL" in declared:
            declared["AWS_ENDPOINT_URL"] = endpoint_for_containers
        result[logical_id] = dict(sorted(declared.items()))
    return result


def resource_rows(stack: LocalStack) -> list[tuple[str, str, str]]:
    """(logical id, type, physical name or queue URL) of every deployed resource, in template order."""
    kinds = {"AWS::DynamoDB::Table": "table", "AWS::S3::Bucket": "bucket", "AWS::SQS::Queue": "queue"}
    return [
        (logical_id, kinds.get(stack.resources[logical_id].get("Type", ""), "?"), name)
        for logical_id, name in sorted(
            stack.physical_names.items(),
            key=lambda item: (
                list(kinds).index(stack.resources[item[0]].get("Type", ""))
                if stack.resources[item[0]].get("Type") in kinds
                else 9,
                item[0],
            ),
        )
    ]
