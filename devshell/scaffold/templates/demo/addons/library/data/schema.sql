-- The library's tables. This file runs again whenever the module's version
-- changes, so every statement is idempotent.

CREATE TABLE IF NOT EXISTS library_genre (
    id   integer PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS library_author (
    id      serial PRIMARY KEY,
    name    text NOT NULL,
    country text,
    born    date
);

CREATE TABLE IF NOT EXISTS library_book (
    id        serial PRIMARY KEY,
    title     text NOT NULL,
    isbn      text UNIQUE,
    author_id integer NOT NULL REFERENCES library_author ON DELETE CASCADE,
    genre_id  integer REFERENCES library_genre ON DELETE SET NULL,
    published integer CHECK (published BETWEEN 1450 AND 2100),
    copies    integer NOT NULL DEFAULT 1 CHECK (copies > 0)
);

CREATE TABLE IF NOT EXISTS library_member (
    id        serial PRIMARY KEY,
    name      text NOT NULL,
    email     text NOT NULL UNIQUE,
    joined_on date NOT NULL DEFAULT current_date
);

/* A loan is open until it is returned; it is overdue once due_on has passed. */
CREATE TABLE IF NOT EXISTS library_loan (
    id          serial PRIMARY KEY,
    book_id     integer NOT NULL REFERENCES library_book ON DELETE CASCADE,
    member_id   integer NOT NULL REFERENCES library_member ON DELETE CASCADE,
    loaned_on   date NOT NULL DEFAULT current_date,
    due_on      date NOT NULL,
    returned_on date,
    CHECK (due_on >= loaned_on),
    CHECK (returned_on >= loaned_on)  -- NULL (not returned yet) passes
);
CREATE INDEX IF NOT EXISTS library_loan_open_idx ON library_loan (due_on) WHERE returned_on IS NULL;
