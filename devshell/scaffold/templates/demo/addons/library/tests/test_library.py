"""Tests of the library demo module: install, populate, and the page and routes over WSGI."""

import uuid
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    from devshell.config import load_config
    from devshell.modules import addons_paths

    config = load_config(cwd=MODULE)
    if MODULE.parent not in addons_paths(config):
        config = config.with_overrides({"addons_path": [*config["addons_path"], str(MODULE.parent)]})
    return config


@pytest.fixture
def db(config):
    from devshell.db.admin import drop_database
    from devshell.db.connection import resolve_server
    from devshell.modules import init_database

    name = f"test_library_{uuid.uuid4().hex[:8]}"
    init_database(config, name, ["library"], admin_password="test-admin")
    yield name
    drop_database(resolve_server(config), name, missing_ok=True)


def test_populated_library_page(db, config):
    from werkzeug.test import Client

    import devshell
    from devshell.server import Root

    devshell.populate(db, "small", seed=7, tables=["library_loan"], config=config, quiet=True)
    with devshell.connect(db, config=config) as env:
        assert env.library_genre.search_count() == 6  # from data/library_genre.csv, none made up
        assert env.library_loan.search_count() == 30
        title = env.library_book.search([], order="id desc", limit=1).title
    app = Root(config.with_overrides({"db_name": db}))  # serve the test database only
    try:
        page = Client(app).get(f"/library?db={db}")
        assert page.status_code == 200 and title in page.get_data(as_text=True)
        found = Client(app).get(f"/library/books?db={db}&q={title[:5]}").get_json()
        assert title in [book["title"] for book in found]
    finally:
        app.close()
