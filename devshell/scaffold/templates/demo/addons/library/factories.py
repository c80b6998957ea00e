"""Populate factories: values that look like a library's rather than random words."""

from devshell import addon


@addon.factory("library_book", column="title")
def title(ctx):
    return ctx.faker.catch_phrase().title()


@addon.factory("library_book", column="isbn")
def isbn(ctx):
    return ctx.faker.unique.isbn13()


@addon.factory("library_book", column="published")
def published(ctx):
    return ctx.random.randint(1850, 2024)


@addon.factory("library_loan", column="loaned_on")
def loaned_on(ctx):
    """Loans of the last three months (populate keeps due_on and returned_on after it: the CHECKs say so)."""
    return ctx.faker.date_between(start_date="-90d", end_date="today")
