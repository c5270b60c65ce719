"""``Archive``: the synchronous archive the operator (through ``AsyncArchive``), the CLI and tests use.

Open it with a URL (``sqlite:///PATH``, the embedded default, or ``postgresql://...`` from the
chart's connection Secret); opening migrates the schema (see ``migrate``). Every method is one
short transaction, so an Archive can be shared by threads. Errors are the archive's own: bad input
is an ``InvalidRecord``/``InvalidQuery`` (permanent), a database that cannot be reached is
``ArchiveUnavailable`` (retry later); callers need not know SQLAlchemy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kuberun_operator.archive import attempts as attempt_rows
from kuberun_operator.archive import configs, limits, migrate, paging, queries, series, writes
from kuberun_operator.archive import engine as engines
from kuberun_operator.archive.attempts import ArchivedAttempt
from kuberun_operator.archive.errors import ArchiveError, ArchiveUnavailable, InvalidRecord
from kuberun_operator.archive.record import ArchivedExperiment, archive_record
from kuberun_operator.archive.schema import attempts, blobs, config_maps, experiments, locations, metrics
from kuberun_operator.archive.series import Location, MetricPoint

DEFAULT_URL = "sqlite:///archive.db"

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Archive:
    """Finished (and deleted) Experiments with their Events, metric series and log/artifact locations."""

    def __init__(self, engine: Engine, clock: Clock = _utcnow, applied_migrations: Sequence[str] = ()) -> None:
        self._engine = engine
        self._writer = engines.writer(engine)
        self._clock = clock
        self.applied_migrations = list(applied_migrations)
        """The schema revisions this open applied (empty when the database was current)."""

    @classmethod
    def open(cls, url: str = DEFAULT_URL, *, clock: Clock = _utcnow, **engine_options: Any) -> Archive:
        """Connect to ``url`` and bring its schema to this version's head."""
        engine = engines.create(url, **engine_options)
        try:
            applied = migrate.upgrade(engine)
        except sa.exc.SQLAlchemyError as e:
            engine.dispose()
            raise ArchiveError(f"cannot open the archive at {engine.url.render_as_string(hide_password=True)}: "
                               f"{type(e.orig or e).__name__}: {e.orig or e}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock, applied)

    @property
    def url(self) -> str:
        """The database URL, password hidden (safe to log)."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- experiments ------------------------------------------------------------------------------

    def record(self, obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> ArchivedExperiment:
        """Archive an Experiment object and its Events; idempotent by uid, the latest call wins.

        Returns the stored record (its Events merged with those recorded before). Every finished
        attempt the status holds is also stored as an attempt row (see ``record_attempts``).
        """
        rec = archive_record(obj, events, archived_at=self._clock())
        ended = attempt_rows.checked(rec.uid, attempt_rows.from_status(rec.status))
        with self._connection(write=True) as conn:
            stored = writes.upsert_experiment(conn, rec)
            if ended:
                writes.upsert_attempts(conn, rec.uid, ended, self._clock())
            return stored

    def get(self, namespace: str, name: str) -> ArchivedExperiment | None:
        """The newest archived experiment of that name (names are reused; uids are not)."""
        t = experiments.c
        return self._one(sa.and_(t.namespace == namespace, t.name == name))

    def get_uid(self, uid: str) -> ArchivedExperiment | None:
        return self._one(experiments.c.uid == uid)

    def query(self, namespace: str | None = None, *, title: str | None = None, submitter: str | None = None,
              labels: Mapping[str, str] | None = None, phase: str | Iterable[str] | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = limits.DEFAULT_LIMIT,
              continue_token: str | None = None, full: bool = False) -> tuple[list[ArchivedExperiment], str | None]:
        """A page of archived experiments, newest first (by creation), and the token for the next page.

        All filters must hold: ``namespace`` (None for all), ``title`` (case-insensitive substring),
        ``submitter`` (exact), ``labels`` (each key equal to its value), ``phase`` (one or any of
        several), ``since <= created < until``. Summaries (``full=False``) leave out the large
        documents (metadata, spec, events) but keep status; ``get``/``get_uid`` return everything.
        The token is ``None`` on the last page.
        """
        filters = queries.normalized_filters(namespace, title, submitter, labels, phase, since, until)
        stmt = queries.page(filters, limit, continue_token, full)
        with self._connection() as conn:
            rows = conn.execute(stmt).all()
        items = [queries.to_record(row) for row in rows[:limit]]
        token = None
        if len(rows) > limit:
            last = items[-1]
            token = paging.encode(last.created, last.uid, queries.token_filters(filters))
        return items, token

    # -- metric series ----------------------------------------------------------------------------

    def record_metrics(self, uid: str, task: str, attempt: int,
                       series_: Iterable[MetricPoint | Mapping[str, Any]]) -> int:
        """Store metric points of one attempt (``{name, step, value, time?}`` each); the number stored.

        Idempotent: a point is keyed by (uid, task, attempt, name, step), and the latest value wins.
        """
        series.check_key(uid, task, attempt)
        points = series.metric_points(task, attempt, series_)
        if points:
            with self._connection(write=True) as conn:
                writes.upsert_metrics(conn, uid, points)
        return len(points)

    def metrics(self, uid: str, *, task: str | None = None, name: str | None = None) -> list[MetricPoint]:
        """The experiment's metric points, by task, attempt, name and step."""
        t = metrics.c
        stmt = sa.select(metrics).where(t.uid == uid)
        if task is not None:
            stmt = stmt.where(t.task == task)
        if name is not None:
            stmt = stmt.where(t.name == name)
        stmt = stmt.order_by(t.task, t.attempt, t.name, t.step)
        with self._connection() as conn:
            return [MetricPoint(r.task, r.attempt, r.name, r.step, series.loaded_value(r.value), r.time)
                    for r in conn.execute(stmt)]

    # -- attempts ---------------------------------------------------------------------------------

    def record_attempts(self, uid: str, items: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Store attempts as they ended, ``(task, the attempt's status entry)`` each; the number stored.

        Idempotent: keyed by (uid, task, attempt), the latest recording wins. The history survives
        the status budget dropping attempts from the object (``kuberun.resource.history``).
        """
        checked = attempt_rows.checked(uid, items)
        if checked:
            with self._connection(write=True) as conn:
                writes.upsert_attempts(conn, uid, checked, self._clock())
        return len(checked)

    def attempts(self, uid: str, *, task: str | None = None) -> list[ArchivedAttempt]:
        """Every archived attempt of the experiment, by task and attempt number."""
        t = attempts.c
        stmt = sa.select(attempts).where(t.uid == uid)
        if task is not None:
            stmt = stmt.where(t.task == task)
        stmt = stmt.order_by(t.task, t.attempt)
        with self._connection() as conn:
            return [ArchivedAttempt(r.task, r.attempt, r.phase, r.exit_code, r.reason, r.start_time, r.finish_time,
                                    dict(r.document or {}), r.recorded_at) for r in conn.execute(stmt)]

    # -- log and artifact locations ---------------------------------------------------------------

    def record_location(self, uid: str, task: str, attempt: int, kind: str, url: str,
                        size: int | None = None, sha256: str | None = None) -> None:
        """Where an attempt's log (``kind="log"``) or an artifact (``"artifact"``) was copied."""
        self.record_locations(uid, task, attempt, [(kind, url, size, sha256)])

    def record_locations(self, uid: str, task: str, attempt: int,
                         items: Iterable[tuple[str, str, int | None, str | None]]) -> int:
        """Many locations of one attempt, as (kind, url, size, sha256); idempotent by (kind, url)."""
        series.check_key(uid, task, attempt)
        checked: dict[tuple[str, str], Location] = {}
        for n, item in enumerate(items):
            if n >= limits.MAX_LOCATIONS_PER_CALL:
                raise InvalidRecord(f"more than {limits.MAX_LOCATIONS_PER_CALL} locations in one call: send batches")
            loc = series.location(task, attempt, *item)
            checked[(loc.kind, loc.url)] = loc
        if checked:
            with self._connection(write=True) as conn:
                writes.upsert_locations(conn, uid, list(checked.values()), self._clock())
        return len(checked)

    def locations(self, uid: str, *, kind: str | None = None) -> list[Location]:
        t = locations.c
        stmt = sa.select(locations).where(t.uid == uid)
        if kind is not None:
            stmt = stmt.where(t.kind == kind)
        stmt = stmt.order_by(t.task, t.attempt, t.kind, t.url)
        with self._connection() as conn:
            return [Location(r.task, r.attempt, r.kind, r.url, r.size, r.sha256, r.recorded_at)
                    for r in conn.execute(stmt)]

    # -- ConfigMaps the spec points at (configs.py) -----------------------------------------------

    def record_config_maps(self, uid: str, items: Sequence[Mapping[str, Any]]) -> int:
        """Keep these ConfigMaps of the experiment (as read from the API); idempotent by (uid, name),
        content stored once by sha256. Returns how many were recorded."""
        series.check_key(uid, "-", 0)
        split = configs.checked(items)
        if split:
            with self._connection(write=True) as conn:
                writes.upsert_config_maps(conn, uid, split, self._clock())
        return len(split)

    def config_map_names(self, uid: str) -> set[str]:
        with self._connection() as conn:
            return set(conn.execute(sa.select(config_maps.c.name).where(config_maps.c.uid == uid)).scalars())

    def blobs_held(self, sha256s: Iterable[str]) -> set[str]:
        """Which of these contents ``archive_blobs`` holds (the code collector deletes only those)."""
        wanted = sorted(set(sha256s))
        if not wanted:
            return set()
        with self._connection() as conn:
            return set(conn.execute(sa.select(blobs.c.sha256).where(blobs.c.sha256.in_(wanted))).scalars())

    def config_maps(self, uid: str, namespace: str) -> list[dict[str, Any]]:
        """The experiment's kept ConfigMaps, rebuilt (in ``namespace``, without owners), by name."""
        with self._connection() as conn:
            docs = [(r.name, r.document) for r in conn.execute(
                sa.select(config_maps).where(config_maps.c.uid == uid).order_by(config_maps.c.name))]
            wanted = sorted(set().union(*(configs.digests(d) for _, d in docs))) if docs else []
            data = {r.sha256: bytes(r.data) for r in conn.execute(
                sa.select(blobs.c.sha256, blobs.c.data).where(blobs.c.sha256.in_(wanted)))} if wanted else {}
        return [cm for _, d in docs if (cm := configs.rebuild(d, data, namespace)) is not None]

    @contextlib.contextmanager
    def _connection(self, write: bool = False) -> Iterator[sa.Connection]:
        """A connection (in a write transaction when ``write``), database failures as ArchiveUnavailable."""
        try:
            with (self._writer.begin() if write else self._engine.connect()) as conn:
                yield conn
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as e:
            raise ArchiveUnavailable(f"the archive at {self.url} is unavailable: {type(e.orig or e).__name__}: "
                                     f"{e.orig or e}") from None

    def _one(self, where: sa.ColumnElement[bool]) -> ArchivedExperiment | None:
        with self._connection() as conn:
            row = conn.execute(queries.one(where)).first()
        return None if row is None else queries.to_record(row)
