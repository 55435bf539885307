"""User-facing errors.

Anything the user can fix (bad path, unknown split, corrupt cache, malformed submission) raises a
subclass of :class:`OneshotbenchError`; the CLI prints its message and exits non-zero without a
traceback. Everything else is a bug and keeps its traceback.
"""


class OneshotbenchError(Exception):
    """An error caused by input the user controls; its message says what and where."""


class DataError(OneshotbenchError):
    """Omniglot source files or caches are missing, corrupt or inconsistent."""


class LookupFailure(OneshotbenchError, KeyError):
    """A registry look-up failed; the message lists what exists."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
