"""The library demo module: routes, a cron job, populate factories and names for the shell."""

from devshell import addon

from . import factories, jobs, routes  # noqa: F401 - importing them registers what they declare


@addon.shell_context
def library_names(env):
    """``Book``, ``Author``, ``Member`` and ``Loan`` in ``devshell shell``."""
    return {"Book": env["library_book"], "Author": env["library_author"], "Member": env["library_member"],
            "Loan": env["library_loan"]}
