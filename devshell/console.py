"""The one way devshell warns its user: a single line ``devshell: warning: …`` on stderr.

Commands, the shell, module loading and the startup checks call :func:`warn`, so
every warning has the same shape whether the CLI, a script or a notebook caused
it. A running server logs its warnings instead: they belong in the server log
(which a notebook server's handle captures), not on the terminal of whoever
started it.
"""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    """Tell the user about something that did not stop the work (stderr, one line)."""
    print(f"devshell: warning: {message}", file=sys.stderr, flush=True)
