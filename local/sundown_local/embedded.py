"""An embedded AWS for local runs and tests: moto in this process, with the stack deployed from template.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sundown_local.runner import REPO_ROOT
from sundown_local.stack import LocalStack
from sundown_local.template import load_template
from sundown_local.wiring import Wiring

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextmanager
def embedded_stack(
    parameter_overrides: dict[str, Any] | None = None,
    template_path: Path = REPO_ROOT / "template.yaml",
    function_env: dict[str, str] | None = None,
) -> Iterator[Wiring]:
    """Deploy template.yaml into an in-process moto and yield its wiring; nothing leaves this process."""
    from moto import mock_aws

    from sundown_local import aws

    saved = {k: os.environ.get(k) for k in FAKE_AWS_ENV}
    os.environ.update(FAKE_AWS_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    aws.reset()
    try:
        with mock_aws():
            stack = LocalStack(load_template(template_path), parameter_overrides=parameter_overrides)
            stack.deploy()
            verify_sender(stack)
            yield Wiring.of(stack, extra_env=function_env)
    finally:
        aws.reset()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def verify_sender(stack: LocalStack) -> None:
    from sundown_local.aws import client

    client("ses").verify_email_identity(EmailAddress=str(stack.parameters["SenderEmail"]))


def sent_emails() -> list[dict[str, str]]:
    """Every message the in-process SES accepted, oldest first."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_REGION", "us-east-1")]
    return [
        {"to": ", ".join(m.destinations.get("ToAddresses", [])), "subject": m.subject, "body": m.body}
        for m in backend.sent_messages
    ]
