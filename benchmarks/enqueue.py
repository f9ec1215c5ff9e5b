"""What the admin does when staff confirm a bulk run, in a process of its own so its memory can be measured.

``python -m benchmarks.enqueue IDS_FILE`` reads the source rows' primary keys (a JSON list), records
the run (:func:`kcp_django.admin.bulk.start_bulk`), queues its chunks (:func:`kcp_django.admin.tasks.enqueue_bulk`)
and prints one JSON line: the run's id, how many tasks, when it started (``time.time()``, just
before ``start_bulk``) and this process's peak resident set size in bytes.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from django.utils.crypto import get_random_string

from benchmarks.processes import peak_rss


def own_peak_rss() -> int:
    """This process's peak resident set size in bytes.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` would also count the parent's memory, which a
    child started by ``vfork`` and ``exec`` inherits in that figure.
    """
    measured = peak_rss(os.getpid())
    if measured is not None:
        return measured
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kilobytes on Linux, bytes on macOS


def main(ids_file: str) -> None:
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    django.setup()

    from kcp_django.admin.bulk import start_bulk
    from kcp_django.admin.sources import AccountSource
    from kcp_django.admin.tasks import enqueue_bulk
    from kcp_django.models import AccountVerification

    object_ids = json.loads(Path(ids_file).read_text())
    # Where the admin's own action on the verifications list reads each row's account.
    source = AccountSource(
        bank_code="bank_code", account_no="account_no", owner_nm="owner_nm", reference="reference", merchant="merchant"
    )
    started = time.time()
    bulk, _ = start_bulk(
        model=AccountVerification,
        source=source,
        object_ids=object_ids,
        confirmation_token=get_random_string(32),
        merchant="default",
        in_background=True,
    )
    tasks = enqueue_bulk(bulk)
    print(
        json.dumps(
            {
                "bulk": bulk.pk,
                "tasks": tasks,
                "started": started,
                "enqueued": time.time(),
                "peak_rss": own_peak_rss(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
