"""The one exception type for bad input: the CLI prints its message as one line and exits with code 2."""


class UserError(Exception):
    """Bad input from the user or a bad file on disk; the message is one clear line."""
