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


class TaskNotFoundError(TaskqError):
    """No task has the given id."""


class ConflictError(TaskqError):
    """The task is not in a state that allows the operation."""


class IdempotencyConflictError(TaskqError):
    """An Idempotency-Key was reused with a different request body."""


class InvalidMessageError(TaskqError):
    """A queue message is not a valid task (poison)."""
