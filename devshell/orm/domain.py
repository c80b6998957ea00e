"""Odoo-style domains compiled to SQL: ``[("name", "ilike", "x"), "|", ("a", "=", 1), ("b", "!=", None)]``.

Terms are ``(field, operator, value)`` triples combined with the prefix operators
``&``, ``|`` and ``!`` (Polish notation; consecutive terms are joined by an implicit
``&``). Like Odoo, ``!=`` and ``not in`` keep the rows where the column is NULL.
Fields are checked against the table's columns and quoted with ``sql.Identifier``;
values always travel as parameters. A field may follow single-column foreign keys
(``"language_id.name"``), compiled to a subquery.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from psycopg2 import sql

from ..db.catalog import Catalog, Column, QueryError, Table, did_you_mean

COMPARISONS = {"=": "=", "!=": "IS DISTINCT FROM", "<>": "IS DISTINCT FROM", "<": "<", "<=": "<=",
               ">": ">", ">=": ">="}
PATTERNS = {"like": ("LIKE", True), "ilike": ("ILIKE", True), "not like": ("NOT LIKE", True),
            "not ilike": ("NOT ILIKE", True), "=like": ("LIKE", False), "=ilike": ("ILIKE", False)}
OPERATORS = (*COMPARISONS, "in", "not in", *PATTERNS)
BRANCHES = ("&", "|", "!")
COLLECTIONS = (list, tuple, set, frozenset, range)

Clause = tuple[sql.Composable, list[Any]]
__all__ = ["QueryError", "RecordReference", "compile_domain", "parse_order", "bind", "is_domain"]


class RecordReference:
    """A value that stands for the primary keys of records (a recordset is one).

    Domains and written values accept records in place of ids; this base class lets them
    recognise records without importing the recordsets, which sit above this module.
    """

    __slots__ = ()

    @property
    def ids(self) -> list[Any]:
        raise NotImplementedError


def is_domain(value: Any) -> bool:
    """True for what looks like a domain rather than a list of ids (for ``read(domain_or_ids)``)."""
    if not isinstance(value, (list, tuple)) or not value:
        return isinstance(value, (list, tuple))
    first = value[0]
    return first in BRANCHES if isinstance(first, str) else (
        isinstance(first, (list, tuple)) and len(first) == 3 and isinstance(first[0], str)
        and first[1] in OPERATORS)


def compile_domain(domain: Iterable[Any], table: Table, catalog: Catalog | None = None) -> Clause:
    """``(where clause, parameters)`` for *domain* on *table*; an empty domain is TRUE."""
    if domain is None:
        domain = ()
    if isinstance(domain, (str, bytes, dict)) or not isinstance(domain, Iterable):
        raise QueryError(f"a domain is a list of (field, operator, value) terms, not {domain!r}")
    items = list(domain)
    if len(items) == 3 and isinstance(items[0], str) and items[0] not in BRANCHES and items[1] in OPERATORS:
        raise QueryError(f"a domain is a list of terms: write [{tuple(items)!r}], not {domain!r}")
    position = 0

    def node() -> Clause:
        nonlocal position
        if position >= len(items):
            raise QueryError(f"domain {items!r} ends early: an operator lacks its operands")
        item = items[position]
        position += 1
        if item == "!":
            clause, params = node()
            return sql.SQL("(NOT {})").format(clause), params
        if item in ("&", "|"):
            return _join(sql.SQL(" AND " if item == "&" else " OR "), [node(), node()])
        return leaf(item, table, catalog)

    nodes = []
    while position < len(items):
        nodes.append(node())
    if not nodes:
        return sql.SQL("TRUE"), []
    return nodes[0] if len(nodes) == 1 else _join(sql.SQL(" AND "), nodes)


def _join(separator: sql.SQL, clauses: list[Clause]) -> Clause:
    params = [param for _, part in clauses for param in part]
    return sql.SQL("({})").format(separator.join(clause for clause, _ in clauses)), params


def leaf(term: Any, table: Table, catalog: Catalog | None = None) -> Clause:
    """One ``(field, operator, value)`` term."""
    if not isinstance(term, (list, tuple)) or len(term) != 3 or not isinstance(term[0], str):
        raise QueryError(f"invalid domain term {term!r}: expected (field, operator, value) or one of '&', '|', '!'")
    field, operator, value = term
    if not isinstance(operator, str) or operator.lower() not in OPERATORS:
        raise QueryError(f"unknown operator {operator!r} in {tuple(term)!r}: use one of {', '.join(OPERATORS)}")
    operator = operator.lower()
    if field not in table.columns and "." in field:
        return _path(field, operator, value, table, catalog)
    column = table.column(field)
    name = sql.Identifier(field)
    value = plain_value(value, operator in ("in", "not in"), term)
    if operator in COMPARISONS:
        return _comparison(name, column, operator, value, term)
    if operator in ("in", "not in"):
        return _membership(name, operator, value, term)
    return _pattern(name, column, operator, value, term)


def _comparison(name: sql.Identifier, column: Column, operator: str, value: Any, term: Any) -> Clause:
    if value is None:
        if operator not in ("=", "!=", "<>"):
            raise QueryError(f"{tuple(term)!r}: None can only be compared with '=' or '!='")
        return sql.SQL("({} IS NULL)" if operator == "=" else "({} IS NOT NULL)").format(name), []
    if isinstance(value, COLLECTIONS + (dict,)) and not _accepts_collection(column, value):
        hint = " (use 'in' to match one of several values)" if isinstance(value, COLLECTIONS) else ""
        raise QueryError(f"{tuple(term)!r}: operator {operator!r} takes a single value, "
                         f"not a {type(value).__name__}{hint}")
    placeholder, param = bind(column, value)
    return sql.SQL("({} {} {})").format(name, sql.SQL(COMPARISONS[operator]), placeholder), [param]


def _membership(name: sql.Identifier, operator: str, value: Any, term: Any) -> Clause:
    if not isinstance(value, COLLECTIONS):
        raise QueryError(f"{tuple(term)!r}: operator {operator!r} takes a list of values, "
                         f"not {type(value).__name__} {value!r}")
    values = list(value)
    with_null = None in values
    values = [item for item in values if item is not None]
    positive = operator == "in"
    if not values:
        if with_null:
            return sql.SQL("({} IS NULL)" if positive else "({} IS NOT NULL)").format(name), []
        return sql.SQL("TRUE" if not positive else "FALSE"), []
    if positive:
        template = "({0} IN %s OR {0} IS NULL)" if with_null else "({0} IN %s)"
    else:  # like '!=', 'not in' keeps NULLs unless None is among the values
        template = "({0} NOT IN %s AND {0} IS NOT NULL)" if with_null else "({0} NOT IN %s OR {0} IS NULL)"
    return sql.SQL(template).format(name), [tuple(values)]


def _pattern(name: sql.Identifier, column: Column, operator: str, value: Any, term: Any) -> Clause:
    if not isinstance(value, str):
        raise QueryError(f"{tuple(term)!r}: operator {operator!r} takes a string, not {value!r}")
    keyword, wrap = PATTERNS[operator]
    target: sql.Composable = name if column.type_category == "S" else sql.SQL("CAST({} AS text)").format(name)
    template = "({0} {1} %s OR {0} IS NULL)" if keyword.startswith("NOT") else "({0} {1} %s)"
    return sql.SQL(template).format(target, sql.SQL(keyword)), [f"%{value}%" if wrap else value]


def _path(field: str, operator: str, value: Any, table: Table, catalog: Catalog | None) -> Clause:
    """``language_id.name``: the foreign key column IN (SELECT key FROM target WHERE name …)."""
    head, rest = field.split(".", 1)
    column = table.column(head)
    fk = table.foreign_key_of(column.name)
    if fk is None or catalog is None:
        raise QueryError(f"cannot follow {field!r}: {table.key}.{head} is not a single-column foreign key")
    target = catalog.table(fk.target)
    clause, params = leaf((rest, operator, value), target, catalog)
    query = sql.SQL("({} IN (SELECT {} FROM {} WHERE {}))").format(
        sql.Identifier(head), sql.Identifier(fk.ref_columns[0]), sql.Identifier(target.schema, target.name),
        clause)
    return query, params


def _accepts_collection(column: Column, value: Any) -> bool:
    if column.base_type in ("json", "jsonb"):
        return isinstance(value, (dict, list, tuple))
    return column.is_array and isinstance(value, (list, tuple))


def bind(column: Column, value: Any) -> tuple[sql.Composable, Any]:
    """The placeholder and the parameter for *value* going into *column*.

    Dicts and lists for json columns travel as ``Json``; lists for array columns are
    cast to the column's type (from the catalog), so enum and domain arrays work.
    """
    from psycopg2.extras import Json

    value = plain_value(value, False, (column.name, "=", value))
    if column.base_type in ("json", "jsonb") and isinstance(value, (dict, list, tuple)):
        return sql.Placeholder(), Json(value)
    if column.is_array and isinstance(value, (list, tuple)):
        return sql.SQL("CAST(%s AS {})").format(sql.SQL(column.type)), list(value)
    return sql.Placeholder(), value


def plain_value(value: Any, many: bool, term: Any) -> Any:
    """Records stand for their ids: one record for '=', a recordset's ids for 'in'."""
    if not isinstance(value, RecordReference):
        return value
    ids = value.ids
    if many:
        return ids
    if len(ids) > 1:
        raise QueryError(f"{tuple(term)!r}: expected one record, got {value!r} (use 'in')")
    return ids[0] if ids else None


def parse_order(order: str | Sequence[str] | None, table: Table) -> sql.Composable | None:
    """``"title desc, film_id"`` checked column by column; nothing from the text reaches SQL as is."""
    if order is None:
        return None
    if not isinstance(order, (str, list, tuple)):
        raise QueryError(f"invalid order {order!r}: expected a string like 'title desc, film_id' or a list of them")
    parts = order.split(",") if isinstance(order, str) else list(order)
    terms = []
    for part in parts:
        words = part.split() if isinstance(part, str) else []
        if not words:
            raise QueryError(f"invalid order {order!r}: expected 'column [asc|desc] [nulls first|last], …'")
        column = words[0]
        if column not in table.columns:
            raise QueryError(f"invalid order {order!r}: table {table.key!r} has no column {column!r}"
                             f"{did_you_mean(column, table.columns)}")
        rest = [word.lower() for word in words[1:]]
        direction = rest.pop(0) if rest[:1] in (["asc"], ["desc"]) else "asc"
        nulls = ""
        if rest[:1] == ["nulls"] and rest[1:] in (["first"], ["last"]):
            nulls, rest = f" NULLS {rest[1].upper()}", []
        if rest:
            raise QueryError(f"invalid order {order!r}: unexpected {' '.join(words[1:])!r} after {column!r} "
                             "(expected asc or desc, then optionally nulls first or nulls last)")
        terms.append(sql.SQL("{} {}{}").format(sql.Identifier(column), sql.SQL(direction.upper()),
                                                 sql.SQL(nulls)))
    return sql.SQL(", ").join(terms)
