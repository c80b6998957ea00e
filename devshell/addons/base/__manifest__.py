{
    "name": "Base",
    "version": "1.2.0",
    "summary": "devshell's own tables: modules (installed, deployed), users, sessions, bus messages, cron jobs and their runs, login attempts, the session-signing secret",
    "depends": [],
    "data": ["data/base.sql"],
    "author": "devshell",
    "license": "MIT",
}
