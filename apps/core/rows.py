"""Model rows read and written with SQL built once per model, for the order-entry hot path.

The ORM compiles every query anew: on the REST API's order path that compiling, not the
database, was most of the CPU (about 0.5 ms a statement against 0.1 ms to send one and read
its answer, bench/order_accept.py). These helpers keep the ORM's models, fields and
conversions (instances come from `Model.from_db`, values go through each field's
`pre_save` / `get_db_prep_save`), and only skip the compiler: the column lists and the INSERT
statement of a model are built the first time they are needed.

`select` takes a WHERE clause written against the model's own columns; a caller that needs
a join or an aggregate writes its SQL and uses `columns` and `instance` for the model's part.
"""

from __future__ import annotations

from functools import cache

from django.db import connection, models


@cache
def _fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(model._meta.concrete_fields)


@cache
def columns(model: type[models.Model], alias: str = "") -> str:
    """`"a"."col1", "a"."col2", …`: every concrete column, in `instance`'s order."""
    quote = connection.ops.quote_name
    prefix = f"{quote(alias)}." if alias else ""
    return ", ".join(prefix + quote(field.column) for field in _fields(model))


def width(model: type[models.Model]) -> int:
    """How many values of a row `instance` takes."""
    return len(_fields(model))


def instance(model: type[models.Model], values) -> models.Model:
    """A model instance from a row of `columns(model)`, converted as the ORM would."""
    converted = []
    for converters, value in zip(_converters(model), values, strict=True):
        if value is not None:
            for convert, field in converters:
                value = convert(value, field, connection)
        converted.append(value)
    return model.from_db(connection.alias, _attnames(model), converted)


@cache
def _attnames(model: type[models.Model]) -> list[str]:
    return [field.attname for field in _fields(model)]


@cache
def _converters(model: type[models.Model]) -> tuple[tuple, ...]:
    """Per column, the backend's and the field's converters (what the ORM applies on read)."""
    table = model._meta.db_table
    per_column = []
    for field in _fields(model):
        backend = connection.ops.get_db_converters(field.get_col(table))
        own = field.get_db_converters(connection)
        per_column.append(tuple((convert, field) for convert in [*backend, *own]))
    return tuple(per_column)


def select(
    model: type[models.Model], where: str, params: list, *, for_update: bool = False
) -> models.Model | None:
    """The first row of `model` matching `where` (SQL on its columns), or None."""
    return select_many([(model, where, params, for_update)])[0]


def select_many(queries: list[tuple[type[models.Model], str, list, bool]]) -> list:
    """Several `select`s (model, where, params, for_update) in one round trip, run in order,
    each statement with its own snapshot: a read after a FOR UPDATE sees what was committed
    before that lock was granted. One instance or None per query."""
    statements, params = [], []
    for model, where, query_params, for_update in queries:
        table = connection.ops.quote_name(model._meta.db_table)
        lock = " FOR UPDATE" if for_update else ""
        statements.append(f"SELECT {columns(model)} FROM {table} WHERE {where} LIMIT 1{lock}")
        params += query_params
    found = []
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
        for n, (model, *_) in enumerate(queries):
            if n:
                cursor.nextset()
            row = cursor.fetchone()
            found.append(None if row is None else instance(model, row))
    return found


@cache
def _insert_sql(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...], str | None]:
    """The INSERT, the fields it writes, and the id's attribute when the database assigns it
    (returned by the statement), else None."""
    quote = connection.ops.quote_name
    pk = model._meta.pk
    assigned = _database_assigned(pk)
    fields = tuple(f for f in _fields(model) if not (assigned and f.primary_key))
    names = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    returning = f" RETURNING {quote(pk.column)}" if assigned else ""
    table = quote(model._meta.db_table)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks}){returning}"
    return sql, fields, pk.attname if assigned else None


def _database_assigned(field: models.Field) -> bool:
    return isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)


def insert(obj: models.Model) -> models.Model:
    """INSERT one new instance, as `obj.save()` would for a new row (no signals are sent:
    nothing on these models listens to them)."""
    insert_many([obj])
    return obj


def insert_many(objs: list[models.Model]) -> None:
    """INSERT new instances, of any models, in the order given and in one round trip (one
    statement each, sent together); database-assigned ids are set on the instances."""
    statements, params, returning = [], [], []
    for obj in objs:
        sql, fields, pk_attname = _insert_sql(type(obj))
        statements.append(sql)
        params += [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
        returning.append(pk_attname)
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
        for n, (obj, pk_attname) in enumerate(zip(objs, returning, strict=True)):
            if n:
                cursor.nextset()
            if pk_attname is not None:
                setattr(obj, pk_attname, cursor.fetchone()[0])
            obj._state.adding = False
            obj._state.db = connection.alias
