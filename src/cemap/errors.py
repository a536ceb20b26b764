"""The one kind of error a user can cause and fix: a parameter, a file, a path or a request
that cannot be used. Its message names the bad value and the fix.

The command lines (``kedro run``, ``cemap generate``) print such an error as its message
alone; any other exception is a bug and keeps its traceback. Nothing here imports Kedro.
"""

from __future__ import annotations


class UserInputError(Exception):
    """Something the user gave cannot be used; the message says what and what to do."""


def user_error_in(error: BaseException | None) -> BaseException | None:
    """The first ``UserInputError`` in ``error``'s chain (itself, its cause or context)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserInputError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
