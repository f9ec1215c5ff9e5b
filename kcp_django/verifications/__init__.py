"""Verifying a refund account with KCP: the one way in for every face (REST, admin, commands, tasks).

:func:`verify_refund_account` checks the input against KCP's guide, records the attempt before KCP
is asked, and stores KCP's answer through :mod:`kcp_django.core`. :mod:`.service` holds the order of
work and its failure modes.
"""

from kcp_django.verifications import service
from kcp_django.verifications.service import *  # noqa: F403  (the public names, listed once in service.__all__)

__all__ = service.__all__
