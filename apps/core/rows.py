"""Model rows read and written with SQL built once per model, for the order-entry hot path.

The ORM compiles every query anew: on the REST API's order path that compiling, not the
database, was most of the CPU (about 0.5 ms a statement against 0.1 ms to send one and read
its answer, bench/order_accept.py). These helpers keep the ORM's models, fields and
conversions (instances come from `Model.from_db`, values go through each field's
`pre_save` / `get_db_prep_save`), and only skip the compiler: the column lists and the INSERT
statement of a model are built the first time they are needed.

Statements go to the server in batches (`run`): a batch is one round trip, and each statement
is prepared once per connection and then only executed, so PostgreSQL does not parse and plan
it again for every order.

`select` takes a WHERE clause written against the model's own columns; a caller that needs
a join or an aggregate writes its SQL and uses `columns` and `instance` for the model's part.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import weakref
from collections.abc import Callable, Iterator
from functools import cache

from django.db import connection, models
from psycopg import pq


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
    statements = [select_statement(*query) for query in queries]
    return [
        first(model, found) for (model, *_), found in zip(queries, run(statements), strict=True)
    ]


def select_statement(
    model: type[models.Model], where: str, params: list, for_update: bool = False
) -> tuple[str, list]:
    """`select`'s statement, for a caller sending it in a batch of its own (`run`); `first`
    turns the rows `run` returns for it into the instance or None."""
    table = connection.ops.quote_name(model._meta.db_table)
    lock = " FOR UPDATE" if for_update else ""
    return f"SELECT {columns(model)} FROM {table} WHERE {where} LIMIT 1{lock}", params


def first(model: type[models.Model], found: list[tuple]) -> models.Model | None:
    """The instance of the first row of a `select_statement`'s rows, or None."""
    return instance(model, found[0]) if found else None


def run(statements: list[tuple[str, list]], *, commit: bool = False) -> list[list[tuple]]:
    """Statements (SQL with %s placeholders, params) sent together in one round trip and run
    in order; each one's rows ([] for a statement that returns none).

    Each statement is prepared on a connection the first time that connection runs it (its
    PREPARE goes in the same round trip), and after that sent as EXECUTE: PostgreSQL neither
    parses nor plans it again. The parameters are bound by the client, as for the ORM. In READ
    COMMITTED each statement takes its own snapshot, so a read sent after a FOR UPDATE sees
    what committed before the lock was granted.

    Writes held back by `write_behind` go first, in the same round trip. `commit`: the
    transaction's COMMIT goes last, in the same round trip too; only for the last statements
    of an outermost atomic block (`can_commit`), whose own commit then has nothing left to do.
    """
    if commit and not can_commit():
        raise RuntimeError(
            "COMMIT only ends an outermost atomic block, without savepoints, not marked for "
            "rollback."
        )
    _refuse_after_commit()
    held = _held_take()
    groups = [statements_held for statements_held, _ in held] + [statements]
    batch = [statement for group in groups for statement in group]
    if not batch and not commit:
        return []
    try:
        found = _grouped(_send(batch, commit), groups)
    except BaseException:
        if held and connection.in_atomic_block:
            # The held writes went nowhere: the transaction must not commit without them.
            connection.needs_rollback = True
        raise
    if commit and _held.writes is not None:
        _held.committed = True  # the block's transaction is over: nothing more may run in it
    for (_, on_rows), rows_held in zip(held, found, strict=False):
        on_rows(rows_held)
    return found[-1]


def _grouped(found: list, groups: list[list]) -> list[list]:
    """`found` (one entry per statement) split as the statements were grouped."""
    answers, start = [], 0
    for group in groups:
        answers.append(found[start : start + len(group)])
        start += len(group)
    return answers


def _send(statements: list[tuple[str, list]], commit: bool) -> list[list[tuple]]:
    with connection.cursor() as cursor:
        state = _prepared_on(connection.connection)
        sent, params = [], []
        for sql, statement_params in statements:
            name, arity, dollars = _statement(sql)
            name = f"{name}_{state.generation}"
            if name not in state.names:
                sent.append(f"PREPARE {name} AS {dollars}")
            sent.append(
                f"EXECUTE {name}({', '.join(['%s'] * arity)})" if arity else f"EXECUTE {name}"
            )
            if len(statement_params) != arity:
                raise ValueError(
                    f"{arity} parameters expected, {len(statement_params)} given: {sql}"
                )
            params += statement_params
        if commit:
            sent.append("COMMIT")
        raw = connection.connection
        begin = _begin_to_send(raw)
        if begin:
            sent.insert(0, begin)
            raw._autocommit = True  # psycopg's own BEGIN, a round trip of its own, not sent
        try:
            cursor.execute("; ".join(sent), params)
        except BaseException:
            # Which of this batch's PREPAREs ran is unknown: the next batch prepares under
            # new names (a few statements left unused on this connection, at worst).
            state.generation += 1
            raise
        finally:
            if begin:
                raw._autocommit = False
        state.names.update(line[8 : line.index(" AS ")] for line in sent if line[0] == "P")
        # Read through psycopg's cursor itself: Django's wrapper adds an attribute lookup per
        # call, and `description` would build column objects only to be tested for None.
        results, found = cursor.cursor, []
        for n, line in enumerate(sent):
            if n:
                results.nextset()
            if line[0] == "E":
                rows_back = results.pgresult.status == pq.ExecStatus.TUPLES_OK
                found.append(results.fetchall() if rows_back else [])
    return found


def _begin_to_send(raw) -> str | None:
    """The BEGIN psycopg would send, in a round trip of its own, before this batch (when a
    transaction is to start with it), for the batch to carry instead; else None.

    psycopg starts a transaction lazily, before the first statement after BEGIN was asked for
    (Django's atomic), by sending BEGIN and waiting for its answer. Sent at the head of the
    batch it costs no round trip; psycopg's own is held back by its `_autocommit` flag for
    the batch's execute (its internals: a psycopg without them sends its BEGIN as before)."""
    start = getattr(raw, "_get_tx_start_command", None)
    if (
        start is None
        or not hasattr(raw, "_autocommit")
        or raw.autocommit
        or raw.pgconn.transaction_status != pq.TransactionStatus.IDLE
    ):
        return None
    return start().decode()


def can_commit() -> bool:
    """Whether a COMMIT sent now ends exactly what the atomic block around this code would
    commit on its way out: the block is the outermost (not a caller's or a test's transaction
    nested around it), holds no savepoint, and is not marked for rollback."""
    return (
        connection.in_atomic_block
        and len(connection.atomic_blocks) == 1
        and not connection.savepoint_ids
        and not connection.needs_rollback
    )


class _Held(threading.local):
    """This thread's writes held back by `write_behind`: None outside one; and whether a batch
    inside it sent the COMMIT."""

    writes: list | None = None
    committed: bool = False


_held = _Held()


def _refuse_after_commit() -> None:
    if _held.committed:
        raise RuntimeError(
            "This block's transaction was committed with its last batch (run(commit=True)): "
            "a statement after it would run outside the block's transaction."
        )


@contextlib.contextmanager
def write_behind() -> Iterator[None]:
    """Inside: writes given `later=True` (`insert_many`) are held back and sent at the front of
    the connection's next `run`, in its round trip, typically the transaction's last one
    (`run(commit=True)`). Any other statement sent meanwhile (the ORM's, a raw cursor's) sends
    them first, so every read sees them. Leaving the block sends what is still held, unless
    the transaction is to roll back; an exception discards it with the transaction, and a
    batch that fails before reaching the server marks the transaction for rollback. After a
    batch that committed, any further statement in the block is refused."""
    if _held.writes is not None:  # already inside one: it sends everything
        yield
        return
    _held.writes, _held.committed = [], False
    try:
        with connection.execute_wrapper(_send_held_first):
            yield
            if _held.writes and not connection.needs_rollback:
                run([])
    finally:
        _held.writes, _held.committed = None, False


def _hold(statements: list[tuple[str, list]], on_rows: Callable[[list], None]) -> bool:
    """Hold `statements` back if inside `write_behind` (True), else leave them (False)."""
    if _held.writes is None:
        return False
    _held.writes.append((statements, on_rows))
    return True


def _held_take() -> list:
    held = _held.writes
    if not held:
        return []
    _held.writes = []
    return held


def _send_held_first(execute, sql, params, many, context):
    _refuse_after_commit()
    if _held.writes:  # a statement that is not `run`'s: the held writes go first
        run([])
    return execute(sql, params, many, context)


def run_groups(groups: list[list[tuple[str, list]]]) -> list[list[list[tuple]]]:
    """`run` over several callers' statements at once, in order, in one round trip; the rows
    handed back group by group, as the statements were given."""
    return _grouped(run([statement for group in groups for statement in group]), groups)


class _Prepared:
    """The statements prepared on one database connection."""

    def __init__(self):
        self.names: set[str] = set()
        self.generation = 0


_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepared_on(raw) -> _Prepared:
    state = _prepared.get(raw)
    if state is None:
        state = _prepared[raw] = _Prepared()
    return state


@cache
def _statement(sql: str) -> tuple[str, int, str]:
    """(a name for the statement, how many parameters, its SQL with $1, $2, … placeholders)."""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        raise ValueError(f"Only %s placeholders are allowed here: {sql}")
    dollars = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))
    name = "pf_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
    return name, len(parts) - 1, dollars


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


def insert_many(objs: list[models.Model], *, later: bool = False) -> None:
    """INSERT new instances, of any models, in the order given and in one round trip (one
    statement each, sent together); database-assigned ids are set on the instances.

    `later`: inside `write_behind`, held back and sent with the next round trip (the
    instances' values are taken now; database-assigned ids are set once it is sent)."""
    statements, returning = [], []
    for obj in objs:
        sql, fields, pk_attname = _insert_sql(type(obj))
        params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
        statements.append((sql, params))
        returning.append(pk_attname)

    def assign(found: list[list[tuple]]) -> None:
        for obj, pk_attname, rows_back in zip(objs, returning, found, strict=True):
            if pk_attname is not None:
                setattr(obj, pk_attname, rows_back[0][0])
            _inserted(obj)

    if later and _hold(statements, assign):
        for obj in objs:
            _inserted(obj)  # as good as inserted: sent before anything else can read
    else:
        assign(run(statements))


def _inserted(obj: models.Model) -> None:
    obj._state.adding = False
    obj._state.db = connection.alias
