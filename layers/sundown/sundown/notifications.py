"""Email to account owners: rendered from the editable templates in ``sundown/templates``, sent with SES."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from string import Template

from sundown.aws import client
from sundown.clock import day
from sundown.observability import logger, mask_email

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str
    kind: str  # which template: warning, suspended, ...


@cache
def _template(kind: str) -> tuple[Template, Template]:
    """A template file is ``Subject: ...`` on its first line, a blank line, then the body."""
    text = (TEMPLATES / f"{kind}.txt").read_text(encoding="utf-8")
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:"):
        raise ValueError(f"template {kind}.txt must start with a 'Subject:' line")
    return Template(head.removeprefix("Subject:").strip()), Template(body)


def render(kind: str, to: str, **values: object) -> Email:
    fields = {k: day(v) if isinstance(v, datetime) else str(v) for k, v in values.items()}
    subject, body = _template(kind)
    return Email(to=to, subject=subject.substitute(fields), body=body.substitute(fields), kind=kind)


def warning(to: str, account_id: str, days_before: int, suspend_at: datetime, delete_at: datetime) -> Email:
    return render(
        "warning",
        to,
        account_id=account_id,
        days_before=days_before,
        suspend_date=suspend_at,
        delete_date=delete_at,
    )


def deletion_reminder(to: str, account_id: str, days_before: int, delete_at: datetime) -> Email:
    return render("reminder", to, account_id=account_id, days_before=days_before, delete_date=delete_at)


def suspension_notice(to: str, account_id: str, delete_at: datetime) -> Email:
    return render("suspended", to, account_id=account_id, delete_date=delete_at)


def deletion_confirmation(to: str, account_id: str, deleted_at: datetime) -> Email:
    return render("deleted", to, account_id=account_id, deleted_date=deleted_at)


def network_id_refusal(to: str, network_id: str, account_ids: list[str]) -> Email:
    return render("network_id_refused", to, network_id=network_id, accounts=", ".join(sorted(account_ids)))


class EmailNotSent(Exception):
    """SES refused or failed: the caller keeps the stage due so that a later sweep retries it."""


def send(email: Email, sender: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = client("ses").send_email(
            Source=sender,
            Destination={"ToAddresses": [email.to]},
            Message={
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": email.body, "Charset": "UTF-8"}},
            },
        )
    except (ClientError, BotoCoreError) as error:
        raise EmailNotSent(f"{email.kind} email not sent: {error}") from error
    logger.info("email sent", extra={"kind": email.kind, "to": mask_email(email.to)})
    return str(response["MessageId"])
