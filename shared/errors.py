"""The small exception hierarchy that services translate at their edges."""


class TaskqError(Exception):
    """Base class of every error taskq raises on purpose."""


class ConfigError(TaskqError):
    """An environment variable holds a value taskq cannot use."""


class ValidationError(TaskqError):
    """A submitted task is malformed; `field` names what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnprocessableError(ValidationError):
    """A well-formed request asks for what taskq cannot do (a time too far ahead, say): 422."""


class ActionDataError(UnprocessableError):
    """The task's data does not fit what its action declares."""


class SchemaMissingError(TaskqError):
    """The database has not been migrated to the version this code needs."""


class PublishError(TaskqError):
    """The broker did not confirm a message (timeout, nack, return or lost connection)."""


class BrokerUnavailableError(PublishError):
    """The connection or channel was lost before the confirm: another node may take it."""


class NotFoundError(TaskqError):
    """No task (or schedule) has the id (or name) a request gives: 404."""


class ConflictError(TaskqError):
    """What a request asks for does not fit the state it finds: 409. `retry_after_s` when the
    conflict passes by itself (a first request with the same key is still in flight)."""

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class KeyInFlightError(ConflictError):
    """The first request with this Idempotency-Key waits for its confirm still: a 202 now could
    name a task that request is about to withdraw."""

    def __init__(self) -> None:
        super().__init__("a request with this Idempotency-Key is still in progress", 1)


class IdempotencyKeyReusedError(UnprocessableError):
    """An Idempotency-Key came again with a different request body: 422."""

    def __init__(self) -> None:
        super().__init__("Idempotency-Key was already used with a different request body")


class QueueingError(TaskqError):
    """The broker did not confirm, and the request was undone: 503, try again later."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InvalidMessageError(TaskqError):
    """A queue message is not a valid task (poison)."""
