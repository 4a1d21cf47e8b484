"""Errors the domain raises. Each one says what is wrong; none of them is worth a retry."""

from __future__ import annotations


class RejectedEvent(Exception):
    """An event that can never succeed, however often it is retried: log it with its id and move on."""

    reason = "rejected"

    def __init__(self, message: str, *, event_id: str | None = None, **context: object) -> None:
        super().__init__(message)
        self.event_id = event_id
        self.context = context


class InvalidEvent(RejectedEvent):
    reason = "invalid_event"


class UnknownAccount(RejectedEvent):
    reason = "unknown_account"


class LoginRefused(RejectedEvent):
    """Activity after the purge has started: the point of no return."""

    reason = "login_refused"
