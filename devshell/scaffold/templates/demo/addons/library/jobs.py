"""The library's cron job."""

from devshell import addon


@addon.cron("library.overdue", interval=3600)
def overdue(env):
    """Every hour: tell the live page how many loans are overdue."""
    env.cr.execute("SELECT count(*) FROM library_loan WHERE returned_on IS NULL AND due_on < current_date")
    count = env.cr.fetchone()[0]
    if count:
        env.bus.send("library", {"text": f"{count} loan(s) overdue"})
