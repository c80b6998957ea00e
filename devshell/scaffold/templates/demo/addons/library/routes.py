"""The library's HTTP side: a live page, the books as JSON, loans and announcements."""

from pathlib import Path

from devshell import addon

CHANNEL = "library"
SHOWN_MESSAGES = 20
VIEWS = Path(__file__).resolve().parent / "views"
_views = None


def render(template, **values):
    """A page from ``views/`` (Jinja2, HTML-escaped)."""
    global _views
    if _views is None:
        import jinja2

        _views = jinja2.Environment(loader=jinja2.FileSystemLoader(VIEWS), autoescape=True)
    return _views.get_template(template).render(**values)


def _rows(cr, query, params=()):
    cr.execute(query, params)
    names = [column.name for column in cr.description]
    return [dict(zip(names, row)) for row in cr.fetchall()]


@addon.route("/library", auth="public")
def index(request):
    """The library at a glance, with the bus messages of channel ``library``: the latest, then live."""
    cr = request.cr
    cr.execute("""SELECT (SELECT count(*) FROM library_book), (SELECT count(*) FROM library_author),
                         (SELECT count(*) FROM library_member),
                         (SELECT count(*) FROM library_loan WHERE returned_on IS NULL)""")
    books, authors, members, open_loans = cr.fetchone()
    recent = _rows(cr, """SELECT b.title, a.name AS author, g.name AS genre, b.published
                            FROM library_book b JOIN library_author a ON a.id = b.author_id
                            LEFT JOIN library_genre g ON g.id = b.genre_id
                           ORDER BY b.id DESC LIMIT 12""")
    # the channel's latest messages, from the bus table: the page shows them before any socket opens
    messages = _rows(cr, """SELECT id, message, created_at AS sent FROM devshell_bus
                             WHERE channel = %s ORDER BY id DESC LIMIT %s""", (CHANNEL, SHOWN_MESSAGES))
    # root: the prefix a reverse proxy serves the app under ("" without one), for the page's own links
    return render("index.jinja", db=request.db, root=request.script_root, channel=CHANNEL, books=books,
                  authors=authors, members=members, open_loans=open_loans, recent=recent, messages=messages,
                  last=max((m["id"] for m in messages), default=0))


@addon.route("/library/books", auth="public", type="json")
def books(request):
    """Books whose title contains ``?q=`` (all of them, 100 at most, without it)."""
    pattern = f"%{request.args.get('q', '')}%"
    return _rows(request.cr, """SELECT b.id, b.title, b.isbn, a.name AS author, b.published, b.copies
                                  FROM library_book b JOIN library_author a ON a.id = b.author_id
                                 WHERE b.title ILIKE %s ORDER BY b.title LIMIT 100""", (pattern,))


@addon.route("/library/loans", methods=["POST"], auth="user", type="json")
def lend(request):
    """Lend ``book_id`` to ``member_id`` for ``days`` (14 by default); announced on the bus."""
    payload = request.payload
    cr = request.cr
    cr.execute("""INSERT INTO library_loan (book_id, member_id, due_on)
                  VALUES (%s, %s, current_date + %s::integer) RETURNING id""",
               (payload["book_id"], payload["member_id"], int(payload.get("days", 14))))
    loan_id = cr.fetchone()[0]
    cr.execute("""SELECT m.name, b.title FROM library_loan l JOIN library_member m ON m.id = l.member_id
                    JOIN library_book b ON b.id = l.book_id WHERE l.id = %s""", (loan_id,))
    member, title = cr.fetchone()
    request.bus.send(CHANNEL, {"text": f"{member} borrowed {title}", "loan": loan_id})
    return {"id": loan_id}


@addon.route("/library/announce", methods=["POST"], auth="admin", type="json")
def announce(request):
    """Publish ``{"text": …}`` to everyone who has the page open."""
    text = str(request.payload.get("text", "")).strip()
    if not text:
        return {"sent": False}
    return {"sent": True, "id": request.bus.send(CHANNEL, {"text": text})}
