"""``python -m devshell.server.modes.gevent_entry ARGS``: ``devshell ARGS`` patched by gevent first.

Every gevent server runs here: the notebook handles and the prefork master start
this module directly, and ``devshell server --mode gevent`` re-executes itself
into it (same pid). gevent's monkey-patching must come before anything imports
socket, select or threading, and psycopg2 must wait for the database through
gevent (psycogreen), so that a slow query blocks its own greenlet and not the
whole server. ``devshell``, ``devshell.server`` and ``devshell.server.modes`` are
imported before this body runs; they import nothing but importlib and typing.
"""

from gevent import monkey

monkey.patch_all()

from psycogreen.gevent import patch_psycopg  # noqa: E402 - after the patching, on purpose

patch_psycopg()

import logging  # noqa: E402

# Every request logs a line: skip what a record would collect that devshell's format
# never shows (the thread, which makes a dummy Thread per greenlet; the caller's frame).
logging.logThreads = False
logging.logMultiprocessing = False
logging._srcfile = None  # documented in logging/__init__.py: no stack walk to find the caller

if __name__ == "__main__":
    from devshell.cli import main

    main()
