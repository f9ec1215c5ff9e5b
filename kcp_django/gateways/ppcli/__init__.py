"""The real gateway, KCP's native ``pp_cli``: ``BACKEND = "kcp_django.gateways.ppcli.PpCliGateway"``.

- :mod:`.client`: runs pp_cli as KCP's own libraries do and reads its answer;
- :mod:`.layout`: where each request field goes in pp_cli's argument (a declarative table);
- :mod:`.installation`: the checks behind ``manage.py kcp_check``.
"""

from kcp_django.gateways.ppcli.client import PpCliGateway

__all__ = ["PpCliGateway"]
