"""The exceptions SQM raises, grouped by who has to act on them."""


class SqmError(Exception):
    """Base class of every error SQM raises on purpose."""


class UserInputError(SqmError):
    """Bad input from a person: a file, a parameter, a command-line argument.

    The command line reports it as one line and exits with status 2; nothing has
    been sent to any instrument when it is raised during validation.
    """


class LimitError(UserInputError):
    """A setpoint outside the station's limits. Raised before any command is sent."""


class InstrumentError(SqmError):
    """An instrument failed, answered nonsense, or is in a state we refuse to drive."""


class InterlockTripped(SqmError):
    """An interlock watching the station asked the run to stop."""


class AbortRequested(SqmError):
    """The operator (window, Ctrl-C, API) asked the run to stop at the next checkpoint."""
