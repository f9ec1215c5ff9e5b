"""Threads kept from one bulk chunk to the next, each with its database connection.

A chunk runs on a few more threads than the calls it keeps in flight (:mod:`kcp_django.admin.bulk`).
Started afresh for every chunk, each thread also opened a database connection of its own, and a
worker running thousands of rows opened hundreds: on PostgreSQL a new server process each time,
before the chunk's first call could start. The threads here stay, idle, between jobs; a job starts
and ends with Django's :func:`~django.db.close_old_connections`, as a request does, so a connection
lives as long as ``CONN_MAX_AGE`` allows (with the default 0, it is closed after each job, as before)
and a broken one is never reused.

Every job given to :func:`run_together` gets a thread at once (more are started when all are busy),
so jobs that wait on each other cannot wait forever. A process forked from one that had threads
(a pre-forking server or worker pool) starts its own.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence

from django.db import close_old_connections

__all__ = ["run_together"]

logger = logging.getLogger("kcp_django")


class _Crew:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], None], threading.Event]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def start(self, job: Callable[[], None]) -> threading.Event:
        """Run ``job`` on a thread of the crew, now; the event is set when it has returned."""
        done = threading.Event()
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                self._threads += 1
                threading.Thread(target=self._serve, name=f"kcp-bulk-{self._threads}", daemon=True).start()
        self._jobs.put((job, done))
        return done

    def _serve(self) -> None:
        while True:
            job, done = self._jobs.get()
            for step in (close_old_connections, job, close_old_connections):
                try:
                    step()
                except BaseException:
                    # A job reports its own errors: this one escaped it. The thread goes on, so that
                    # it is idle again below and the jobs waiting on this one are not left waiting.
                    logger.exception("kcp_django: a bulk run's thread met an error it did not expect")
            with self._lock:
                self._idle += 1
            done.set()


_crew: _Crew | None = None
_crew_lock = threading.Lock()


def _current() -> _Crew:
    global _crew
    with _crew_lock:
        if _crew is None or _crew.pid != os.getpid():
            _crew = _Crew()
        return _crew


def run_together(jobs: Sequence[Callable[[], None]]) -> Callable[[], None]:
    """Start every job of ``jobs`` on a thread of its own, at once; the function returned waits
    until all have returned. A job must catch what it raises: what escapes is not reported here."""
    crew = _current()
    finished = [crew.start(job) for job in jobs]

    def wait() -> None:
        for event in finished:
            event.wait()

    return wait
