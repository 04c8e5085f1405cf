"""The framework's user-facing error type: bad input the user can fix (missing or damaged files, bad config)."""


class MptError(Exception):
    """An error whose message says what is wrong and how to fix it; the CLIs print it without a traceback."""
