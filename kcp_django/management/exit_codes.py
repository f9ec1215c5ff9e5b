"""The exit statuses every maintenance command shares (``kcp_reconcile``, ``kcp_rotate_keys``,
``kcp_reindex``, ``kcp_purge``, ``kcp_prune_api``), so that cron can alert on them alike.

- ``0``: done; nothing needs a person.
- ``1``: done as far as it could, and a person is needed (rows marked for review, outcomes that
  could not be stored, values that cannot be decrypted, indexes that match neither key).
- ``2``: the command line is wrong (argparse's own status for a bad option); nothing was done.
- ``4``: a setting is wrong (the same status as ``kcp_verify`` and ``kcp_refund``); nothing was done.
"""

from __future__ import annotations

from django.core.management.base import CommandError

DONE = 0
NEEDS_A_PERSON = 1
USAGE = 2
CONFIGURATION = 4


def usage_error(message: str) -> CommandError:
    """A wrong option: exit status 2, like argparse's own refusals."""
    return CommandError(message, returncode=USAGE)


def configuration_error(problem: object) -> CommandError:
    return CommandError(f"configuration: {problem}", returncode=CONFIGURATION)


def needs_a_person(message: str) -> CommandError:
    return CommandError(message, returncode=NEEDS_A_PERSON)
