"""What a consumer reports to the database's owner over RabbitMQ, and what the owner answers.

Consumers never open the database: every state change they cause travels as a `Report` to the
state queue, where the owner (the API service) commits it and answers on the consumer's direct
reply-to address. Reports made in one event-loop turn travel together in one message, and the
owner answers them together, in order.

Every report but `ping` carries the consumer's claim token, unique to one delivery: the owner
applies a report again as a no-op, so a request that is sent twice (the owner died after its
commit, or the answer was lost) changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from shared.errors import InvalidMessageError


class Op(StrEnum):
    """What a report asks the owner to do."""

    CLAIM = "claim"  # queued | retrying | running → running, attempts + 1
    COMPLETE = "complete"  # running → completed, with the result
    RETRY = "retry"  # running → retrying, with the error of the failed attempt
    FAIL = "fail"  # running → failed, with the error of the last attempt
    CANCELLED = "cancelled"  # running → cancelled: the action stopped on a cancel request
    PROGRESS = "progress"  # running, with the action's latest progress [fraction, message]
    PING = "ping"  # nothing: does the owner answer?


@dataclass(frozen=True, slots=True)
class Report:
    """One state change a consumer asks for."""

    op: Op
    task_id: str = ""
    token: str = ""
    result: dict[str, Any] | None = None
    error: str | None = None
    # a claim's delivery rank (shared.broker.delivery_rank): an older delivery's late claim
    # must not take the task from a newer one
    rank: int = 0
    progress: tuple[float, str | None] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"op": self.op.value}
        if self.op is not Op.PING:
            wire["id"] = self.task_id
            wire["token"] = self.token
        if self.rank:
            wire["rank"] = self.rank
        if self.result is not None:
            wire["result"] = self.result
        if self.error is not None:
            wire["error"] = self.error
        if self.progress is not None:
            wire["progress"] = list(self.progress)
        return wire

    @classmethod
    def from_wire(cls, raw: object) -> Report:
        if not isinstance(raw, dict):
            raise InvalidMessageError("a report is not an object")
        try:
            op = Op(str(raw.get("op")))
        except ValueError as exc:
            raise InvalidMessageError(f"unknown op {raw.get('op')!r}") from exc
        if op is Op.PING:
            return cls(op)
        task_id, token = raw.get("id"), raw.get("token")
        result, error = raw.get("result"), raw.get("error")
        if not isinstance(task_id, str) or not isinstance(token, str) or not token:
            raise InvalidMessageError(f"{op} needs a task id and a claim token")
        if op is Op.COMPLETE and not isinstance(result, dict):
            raise InvalidMessageError("complete needs a result object")
        if op in (Op.RETRY, Op.FAIL) and not isinstance(error, str):
            raise InvalidMessageError(f"{op} needs an error")
        rank = raw.get("rank", 0)
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
            raise InvalidMessageError("a rank is a whole number")
        progress = _progress(raw.get("progress")) if op is Op.PROGRESS else None
        return cls(op, task_id, token, result, error, rank=rank, progress=progress)


def _progress(raw: object) -> tuple[float, str | None]:
    if not (isinstance(raw, list) and len(raw) == 2):
        raise InvalidMessageError("progress needs [fraction, message]")
    fraction, message = raw
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise InvalidMessageError("a progress fraction is a number")
    if not 0 <= fraction <= 1:
        raise InvalidMessageError("a progress fraction is from 0 to 1")
    if message is not None and not isinstance(message, str):
        raise InvalidMessageError("a progress message is a string")
    return float(fraction), message


@dataclass(frozen=True, slots=True)
class Answer:
    """The owner's answer to one report, sent only after its commit.

    `applied`: the task is now in the state the report asked for, under the report's token
    (true again when a resent report finds its own change already made). `status` is what the
    task is now (None: no such task, the API withdrew it); `attempts` counts its claims.
    """

    applied: bool
    status: str | None = None
    attempts: int = 0
    # A claim's answer carries the task as stored: the database, not the message, says what
    # runs. The owner sets `data` to the stored JSON text as an orjson.Fragment; the consumer
    # reads it back as a dict.
    action: str | None = None
    data: Any = None
    # The time limit the task was submitted with (None: the action's default or the setting).
    timeout_s: float | None = None

    def to_wire(self) -> list[Any]:
        wire: list[Any] = [self.applied, self.status, self.attempts]
        if self.action is not None:
            wire += [self.action, self.data]
            # Only when set: a consumer from before time limits reads the five-item answer.
            if self.timeout_s is not None:
                wire.append(self.timeout_s)
        return wire

    @classmethod
    def from_wire(cls, raw: object) -> Answer:
        if not (isinstance(raw, list) and len(raw) in (3, 5, 6)):
            raise InvalidMessageError(
                "an answer is [applied, status, attempts(, action, data(, timeout_s))]"
            )
        applied, status, attempts, *task = raw
        action, data, timeout_s = (*task, None)[:3] if task else (None, None, None)
        if task and not (isinstance(action, str) and isinstance(data, dict)):
            raise InvalidMessageError("a claim's task is [action, data object]")
        if timeout_s is not None and not (
            isinstance(timeout_s, int | float) and not isinstance(timeout_s, bool) and timeout_s > 0
        ):
            raise InvalidMessageError("a claim's timeout_s is a positive number or null")
        return cls(
            bool(applied),
            status if isinstance(status, str) else None,
            int(attempts),
            action,
            data,
            None if timeout_s is None else float(timeout_s),
        )


def encode_reports(reports: list[Report]) -> bytes:
    """One request message's body."""
    return orjson.dumps([r.to_wire() for r in reports])


def decode_reports(body: bytes) -> list[Report]:
    """Parse a request; InvalidMessageError says what is wrong with it."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessageError(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, list) or not raw:
        raise InvalidMessageError("body is not a non-empty list of reports")
    return [Report.from_wire(item) for item in raw]


def encode_answers(answers: list[Answer]) -> bytes:
    """One reply message's body, answers in the order of the reports."""
    return orjson.dumps([a.to_wire() for a in answers])


def decode_answers(body: bytes, expected: int) -> list[Answer]:
    """Parse a reply to a request of `expected` reports."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessageError(f"reply is not JSON: {exc}") from exc
    if not isinstance(raw, list) or len(raw) != expected:
        raise InvalidMessageError(f"reply does not hold {expected} answers")
    return [Answer.from_wire(item) for item in raw]
