{
    "name": "Base",
    "version": "1.0.0",
    "summary": "devshell's own tables: modules (installed, deployed), users, sessions, bus messages, cron jobs",
    "depends": [],
    "data": ["data/base.sql"],
    "author": "devshell",
    "license": "MIT",
}
