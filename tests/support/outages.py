"""The database becoming unavailable while a gateway call is in flight, simulated for real per database.

:class:`OutageGateway` answers like the sandbox, but first starts :data:`planned` (an :class:`Outage`)
against the connection the service is using, so the service's next write meets it:

=============  ===========================================  ==================================================
database       brief (gone before the service's retries end)  lasting (outlives them)
=============  ===========================================  ==================================================
SQLite         another connection holds an EXCLUSIVE lock,   the same lock, held until the test ends
               released after ``release_after`` seconds
PostgreSQL     ``pg_terminate_backend`` on the service's       the database stops accepting connections
               backend                                         (``ALLOW_CONNECTIONS false``), then the same
MariaDB        ``KILL`` of the service's connection            another transaction locks the row; the service's
                                                               session waits 1 s per try (no server-wide switch
                                                               refuses a superuser's connections)
=============  ===========================================  ==================================================

The service's connection gets a short lock-wait time where the outage is a lock, so tests stay fast.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from django.db import connection, connections
from django.db.utils import load_backend

from kcp_django.gateways.base import GatewayResult, RefundCall, VerificationRequest
from kcp_django.gateways.sandbox import SandboxGateway


class Outage:
    """Started by the gateway during its call; stopped by the test (always, in a ``finally``)."""

    def __init__(
        self, *, lasting: bool, release_after: float = 0.2, table: str = "kcp_django_accountverification"
    ) -> None:
        self.lasting = lasting
        self.table = table
        self.release_after = release_after
        self._lock = threading.Lock()
        self._admin: Any = None
        self._sqlite: sqlite3.Connection | None = None

    def start(self, ordr_idxx: str) -> None:
        vendor = connection.vendor
        if vendor == "sqlite":
            self._start_sqlite()
        elif vendor == "postgresql":
            self._start_postgresql()
        elif vendor == "mysql":
            self._start_mysql(ordr_idxx)
        else:
            raise NotImplementedError(vendor)

    def stop(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.execute("ROLLBACK")
                self._sqlite.close()
                self._sqlite = None
            if self._admin is not None:
                if connection.vendor == "postgresql" and self.lasting:
                    with self._admin.cursor() as cursor:
                        cursor.execute(f"ALTER DATABASE {self._quoted_name()} ALLOW_CONNECTIONS true")
                elif connection.vendor == "mysql":
                    self._admin.rollback()
                self._admin.close()
                self._admin = None

    # --- per database -------------------------------------------------------------------------

    def _start_sqlite(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 150")  # the service's write gives up after 150 ms
        holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        self._sqlite = holder
        if not self.lasting:
            threading.Timer(self.release_after, self.stop).start()

    def _admin_connection(self, **overrides: Any) -> Any:
        settings_dict = {**connection.settings_dict, **overrides}
        admin = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "outage-admin")
        admin.ensure_connection()
        return admin

    def _quoted_name(self) -> str:
        return connection.ops.quote_name(connection.settings_dict["NAME"])

    def _start_postgresql(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        # A database cannot refuse connections while being connected to: work from "postgres".
        self._admin = self._admin_connection(NAME="postgres")
        with self._admin.cursor() as cursor:
            if self.lasting:
                cursor.execute(f"ALTER DATABASE {self._quoted_name()} ALLOW_CONNECTIONS false")
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.02)

    def _start_mysql(self, ordr_idxx: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            (connection_id,) = cursor.fetchone()
            if self.lasting:
                cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        self._admin = self._admin_connection()
        if self.lasting:
            self._admin.set_autocommit(False)
            with self._admin.cursor() as cursor:
                table = connection.ops.quote_name(self.table)
                cursor.execute(f"SELECT id FROM {table} WHERE ordr_idxx = %s FOR UPDATE", [ordr_idxx])  # noqa: S608
        else:
            with self._admin.cursor() as cursor:
                cursor.execute("KILL %s", [connection_id])


#: The outage the next :class:`OutageGateway` call starts.
planned: Outage | None = None


class OutageGateway(SandboxGateway):
    def verify(self, request: VerificationRequest) -> GatewayResult:
        result = super().verify(request)
        assert planned is not None, "set tests.support.outages.planned first"
        planned.start(request.ordr_idxx)
        return result

    def refund(self, request: RefundCall) -> GatewayResult:
        result = super().refund(request)
        assert planned is not None, "set tests.support.outages.planned first"
        planned.start(request.ordr_idxx)
        return result


def close_all() -> None:
    """Drop every connection the outage touched, so the next test starts on fresh sessions."""
    for conn in connections.all():
        conn.close()
