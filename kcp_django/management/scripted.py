"""What the commands scripts branch on (``kcp_verify``, ``kcp_refund``) share: help that keeps its
exit-code table as written, and Django's system checks run inside ``handle()`` so that their
errors end the command with the configuration exit status like every other configuration problem."""

from __future__ import annotations

import argparse

from django.core import checks
from django.core.management.base import DjangoHelpFormatter, OutputWrapper


class ExitCodesHelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the epilog's lines (the exit codes) kept as written."""


def system_check_errors(stderr: OutputWrapper, warning_style: object) -> list[str]:
    """Run the system checks as ``manage.py check`` does: errors returned as ``"id: message HINT: …"``,
    warnings written to ``stderr``, silenced ones left out."""
    problems = []
    for message in checks.run_checks():
        if message.is_silenced():
            continue
        if message.is_serious():
            problems.append(f"{message.id}: {message.msg}" + (f" HINT: {message.hint}" if message.hint else ""))
        else:
            stderr.write(str(message), style_func=warning_style)  # type: ignore[arg-type]
    return problems
