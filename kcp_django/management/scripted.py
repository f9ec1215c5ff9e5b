"""What the commands scripts branch on (``kcp_verify``, ``kcp_refund``) share: help that keeps its
exit-code table as written; Django's system checks run inside ``handle()`` so that their errors end
the command with the configuration exit status like every other configuration problem; one JSON
shape for every outcome; and ids given either way (the UUID or the number)."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from django.core import checks
from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter
from django.db import models
from django.utils import translation
from django.utils.translation import gettext

from kcp_django.exceptions import DecryptionError, FieldError

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django_stubs_ext import StrOrPromise

M = TypeVar("M", bound=models.Model)


class ExitCodesHelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the epilog's lines (the exit codes) kept as written."""


class ScriptedCommand(BaseCommand):
    """A command scripts branch on: help keeps its exit-code table (:attr:`exit_statuses`), and with ``--json`` even
    a command line argparse refuses answers one JSON object (``{"error": "usage", ...}``, exit 2).

    The order of work is here, once: the system checks (unless ``--skip-checks``; a problem exits
    :attr:`configuration_exit`), :meth:`act`, then the result as one JSON object (:meth:`as_dict`)
    or as lines for a person (:meth:`report`), and the exit status :meth:`exit_code` gives. A
    :class:`CommandFailure` raised on the way is printed in the same shape and exits with its code.
    """

    #: The exit statuses the help lists after the options: ``(status, what it means)``, ...
    exit_statuses: tuple[tuple[int, StrOrPromise], ...] = ()
    #: ... and a paragraph after them.
    exit_statuses_note: StrOrPromise | None = None
    #: The exit status of a configuration problem found by the system checks.
    configuration_exit = 4
    #: The checks run inside handle(), so that their errors exit 4 like every other configuration problem.
    requires_system_checks: list[str] = []
    _json_requested = False

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_command_arguments(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON object (errors too), and nothing else")
        parser.add_argument("--skip-checks", action="store_true", help="skip the system checks")

    def add_command_arguments(self, parser: CommandParser) -> None:
        """The command's own options (``--json`` and ``--skip-checks`` are added after them)."""

    def handle(self, *args: Any, **options: Any) -> None:
        output = ScriptedOutput(self, bool(options["json"]))
        try:
            if not options.get("skip_checks"):
                output.check_configuration(self.configuration_exit)
            result = self.act(options)
        except CommandFailure as failure:
            output.fail(failure)
        if output.as_json:
            output.success(self.as_dict(result))
        else:
            self.report(result)
        sys.exit(self.exit_code(result))

    def act(self, options: dict[str, Any]) -> Any:
        """Do the command's work; raise :class:`CommandFailure` for what a script must branch on."""
        raise NotImplementedError

    def as_dict(self, result: Any) -> dict[str, Any]:
        raise NotImplementedError

    def report(self, result: Any) -> None:
        raise NotImplementedError

    def exit_code(self, result: Any) -> int:
        raise NotImplementedError

    def exit_statuses_help(self) -> str:
        """The help's table of :attr:`exit_statuses`, in the language active when the parser is made."""
        lines = [gettext("exit status:"), *(f"  {status}  {meaning}" for status, meaning in self.exit_statuses)]
        if self.exit_statuses_note is not None:
            lines += ["", str(self.exit_statuses_note)]
        return "\n".join(lines)

    def run_from_argv(self, argv: list[str]) -> None:
        self._json_requested = "--json" in argv
        super().run_from_argv(argv)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", ExitCodesHelpFormatter)
        if self.exit_statuses:
            kwargs.setdefault("epilog", self.exit_statuses_help())
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        refuse = parser.error

        def error(message: str) -> NoReturn:
            if self._json_requested:
                self.stdout.write(json.dumps({"error": "usage", "message": message}, ensure_ascii=False))
                sys.exit(USAGE_EXIT)
            refuse(message)  # exits, or raises CommandError when called through call_command
            raise CommandError(message, returncode=USAGE_EXIT)

        parser.error = error  # type: ignore[method-assign]
        return parser


#: argparse's own status for a command line it refuses.
USAGE_EXIT = 2


# --- one JSON shape for every outcome ------------------------------------------------------------
#
# Success: the row as the API gives it (``status`` in lower case). Failure: one object,
#
#     {"error": CODE, "message": TEXT}                                 (usage, ...)
#     {"error": "configuration_error", "problems": [TEXT, ...], "message": TEXT}
#     {"error": "refused", "rule": RULE, "message": TEXT}              (a rule refused it; nothing sent)
#     {"error": "invalid", "fields": {FIELD: [{"rule": R, "message": M}]}, "message": TEXT}
#
# plus, where it helps a script, a few more keys (``id``/``status`` of a row whose outcome was not
# stored, ``key_id`` of a missing encryption key). With ``--json`` nothing else is written to stdout,
# and nothing to stderr either: system-check warnings go into the object as ``warnings``.

FieldErrors = dict[str, list[dict[str, str]]]


class CommandFailure(Exception):
    """Ends a scripted command with exit status ``code`` and one error object (see above).

    ``lines`` are what a person reads on stderr without ``--json`` (by default the message).
    """

    def __init__(
        self,
        code: int,
        error: str,
        message: str,
        *,
        rule: str | None = None,
        fields: FieldErrors | None = None,
        extra: dict[str, Any] | None = None,
        lines: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.body: dict[str, Any] = {"error": error}
        if rule is not None:
            self.body["rule"] = rule
        if fields is not None:
            self.body["fields"] = fields
        self.body["message"] = message
        self.body.update(extra or {})
        self.lines = lines if lines is not None else [message]


def field_failure(code: int, error: str, field: str, rule: str, message: str) -> CommandFailure:
    """A failure about one option or field, e.g. ``--show`` naming no refund."""
    return CommandFailure(
        code, error, message, fields={field: [{"rule": rule, "message": message}]}, lines=[f"{field}: {message}"]
    )


def invalid_failure(code: int, errors: Iterable[FieldError]) -> CommandFailure:
    """The service's field errors: ``fields`` maps each field to its rules; stderr gets each in Korean and
    English (an operator may read either)."""
    fields: FieldErrors = {}
    lines = []
    for error in errors:
        fields.setdefault(error.field, []).append({"rule": error.rule, "message": str(error.message)})
        with translation.override("ko"):
            korean = str(error.message)
        with translation.override("en"):
            english = str(error.message)
        lines.append(f"{error.field} [{error.rule}]: {korean} / {english}")
    message = "; ".join(entry["message"] for entries in fields.values() for entry in entries)
    return CommandFailure(code, "invalid", message, fields=fields, lines=lines)


def configuration_failure(code: int, problems: list[str]) -> CommandFailure:
    """Every configuration problem found in one run: one line each in ``problems`` (and on stderr)."""
    lines = [gettext("configuration: %(problem)s") % {"problem": problem} for problem in problems]
    return CommandFailure(code, "configuration_error", " ".join(lines), extra={"problems": lines}, lines=lines)


def unreadable_account_failure(code: int, exc: DecryptionError) -> CommandFailure:
    """A stored account that cannot be decrypted: its key is not configured, or the value was altered."""
    if exc.key_id is not None and exc.missing_key:
        message = gettext(
            "The stored account cannot be read: it was encrypted with key %(key_id)s, which is not in "
            "KCP_ENCRYPTION_KEYS. Add that key back (after the newer ones); nothing was sent to KCP."
        ) % {"key_id": exc.key_id}
    else:
        message = gettext(
            "The stored account cannot be read (the value was altered or is not an encrypted value); "
            "nothing was sent to KCP."
        )
    return CommandFailure(code, "account_unreadable", message, extra={"key_id": exc.key_id})


class ScriptedOutput:
    """Writes a command's one outcome: the JSON object alone with ``--json``, else lines for a person."""

    def __init__(self, command: BaseCommand, as_json: bool) -> None:
        self.command = command
        self.as_json = as_json
        self.warnings: list[str] = []

    def warn(self, text: str) -> None:
        if self.as_json:
            self.warnings.append(text)
        else:
            self.command.stderr.write(text, style_func=self.command.style.WARNING)

    def success(self, data: dict[str, Any]) -> None:
        """With ``--json``: the object (and ``warnings`` when a system check warned)."""
        body = {**data, "warnings": self.warnings} if self.warnings else data
        self.command.stdout.write(json.dumps(body, ensure_ascii=False))

    def fail(self, failure: CommandFailure) -> NoReturn:
        if self.as_json:
            body = {**failure.body, "warnings": self.warnings} if self.warnings else failure.body
            self.command.stdout.write(json.dumps(body, ensure_ascii=False))
        else:
            for line in failure.lines:
                self.command.stderr.write(line)
        sys.exit(failure.code)

    def check_configuration(self, code: int) -> None:
        """Django's system checks, as ``manage.py check`` runs them: errors end the command with
        ``code``, warnings are shown (inside the object with ``--json``)."""
        problems = []
        for message in checks.run_checks():
            if message.is_silenced():
                continue
            if message.is_serious():
                problems.append(f"{message.id}: {message.msg}" + (f" HINT: {message.hint}" if message.hint else ""))
            else:
                self.warn(str(message))
        if problems:
            self.fail(configuration_failure(code, problems))


# --- ids -----------------------------------------------------------------------------------------


def find_by_id(queryset: QuerySet[M], value: str) -> M | None:
    """The row whose public id (a UUID, as the API and ``--json`` print it) or number (the primary
    key, as the admin's addresses show it) is ``value``; ``None`` when there is none."""
    text = str(value).strip()
    if text.isdigit():
        return queryset.filter(pk=int(text)).first()
    try:
        wanted = uuid.UUID(text)
    except ValueError:
        return None
    return queryset.filter(public_id=wanted).first()


def is_id(value: str) -> bool:
    text = str(value).strip()
    if text.isdigit():
        return True
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
