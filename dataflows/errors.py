"""The one error type users see: a single line naming the source, the field and the fix.

Every module raises a subclass of :class:`CoforgeError`; the CLI prints ``str(err)``
on one line and exits non-zero (a traceback only with ``--debug``).
"""


class CoforgeError(ValueError):
    """Bad input: the message names the file or object, the field and what is allowed."""
