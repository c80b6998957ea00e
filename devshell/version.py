"""devshell's version, in a module of its own: reading it imports nothing else of devshell.

Modules that print the version import it from here rather than from the package,
whose ``__init__`` re-exports the public API (and so sits above every layer).
"""

__version__ = "0.1.0"
