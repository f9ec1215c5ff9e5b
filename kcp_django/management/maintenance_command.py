"""The shape every maintenance command shares (``kcp_reconcile``, ``kcp_reindex``, ``kcp_rotate_keys``,
``kcp_purge``): ``--older-than`` if it takes it, its own options, then those of ``--batch-size``,
``--limit`` and ``--dry-run`` it takes, then ``--database``; a ``--batch-size`` below 1 exits 2 and a
setting the work cannot run with exits 4 (:mod:`kcp_django.management.exit_codes`), before anything
is done."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandParser

from kcp_django.maintenance.batches import FieldsReport
from kcp_django.management.durations import describe, duration
from kcp_django.management.exit_codes import configuration_error, needs_a_person, usage_error

__all__ = ["MaintenanceCommand"]


class MaintenanceCommand(BaseCommand):
    """A maintenance command: :meth:`run` does the work; options after :meth:`add_command_arguments`'s."""

    #: ``--older-than``'s help; ``None``: no ``--older-than``. Its lines then say "(older than ...)".
    older_than_help: str | None = None
    #: ``--older-than``'s default, e.g. ``"10m"``; ``None``: the option is required.
    older_than_default: str | None = None
    #: Rows per transaction unless ``--batch-size`` says otherwise; ``None``: no ``--batch-size``.
    default_batch_size: int | None = None
    #: ``--limit``'s help; ``None``: no ``--limit``.
    limit_help: str | None = None
    #: ``--dry-run``'s help; ``None``: no ``--dry-run``.
    dry_run_help: str | None = None

    @property
    def name(self) -> str:
        """The command's name (its module's), which begins each line it prints."""
        return type(self).__module__.rpartition(".")[2]

    def add_arguments(self, parser: CommandParser) -> None:
        if self.older_than_help is not None:
            default = self.older_than_default
            parser.add_argument(
                "--older-than",
                type=duration,
                required=default is None,
                default=None if default is None else duration(default),
                help=self.older_than_help,
            )
        self.add_command_arguments(parser)
        if self.default_batch_size is not None:
            parser.add_argument(
                "--batch-size",
                type=int,
                default=self.default_batch_size,
                help=f"rows per transaction (default {self.default_batch_size})",
            )
        if self.limit_help is not None:
            parser.add_argument("--limit", type=int, default=None, help=self.limit_help)
        if self.dry_run_help is not None:
            parser.add_argument("--dry-run", action="store_true", help=self.dry_run_help)
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def add_command_arguments(self, parser: CommandParser) -> None:
        """The command's own options, first in its help."""

    def handle(self, *args: Any, **options: Any) -> None:
        if self.default_batch_size is not None and options["batch_size"] < 1:
            raise usage_error("--batch-size must be at least 1.")
        try:
            self.run(options)
        except ImproperlyConfigured as exc:
            raise configuration_error(exc) from None

    def run(self, options: dict[str, Any]) -> None:
        """Do the work and say what was done; raise ``needs_a_person(...)`` when a person is needed."""
        raise NotImplementedError

    def summarize(self, options: dict[str, Any], *lines: str) -> None:
        """Lines on stdout (unless ``--verbosity 0``), each headed by the command's name (and the age
        of the rows it took: ``kcp_purge (older than 180d): ...``)."""
        head = self.name
        if self.older_than_help is not None:
            head += f" (older than {describe(options['older_than'])})"
        if options["verbosity"] >= 1:
            for line in lines:
                self.stdout.write(f"{head}: {line}")

    def finish_fields(
        self, options: dict[str, Any], report: FieldsReport[Any], *, totals: str | None, failed: str
    ) -> None:
        """The end of a run over every field of a kind: each row left as it was on stderr, each field's
        summary (and ``totals``) on stdout, then exit 1 with ``failed`` (``{count}`` and ``{where}``
        filled in) when any row was left."""
        for one in report.fields:
            for pk, problem in one.failed:
                self.stderr.write(f"{one.label} row {pk}: {problem}")
        self.summarize(options, *(one.summary() for one in report.fields), *([totals] if totals else []))
        if report.failed:
            raise needs_a_person(failed.format(count=len(report.failed), where=report.failed_where()))
