"""The one exception family for expected failures.

The CLI catches :class:`DevshellError` once at the top and shows its message as a
single line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DevshellError(Exception):
    """An expected failure: bad input, an unreachable server, a refused operation."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(DevshellError):
    """The command line or the configuration is wrong: exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file or variable holds a value devshell cannot use."""


class DatabaseError(DevshellError):
    """A database could not be reached, found or changed as asked."""


#: the one wording of a missing database, for the command line and the Python API alike
MISSING_DATABASE = "missing the database (-d NAME); no database: pass a name or set db_name / PGDATABASE"


def require_database(name: str | None) -> str:
    """*name*, or the usage error for a command or a call that needs a database and was given none."""
    if not name:
        raise UsageError(MISSING_DATABASE)
    return name
