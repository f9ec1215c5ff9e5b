"""Every Django system check of kcp_django, registered when the app is ready.

- :mod:`.configuration`: the settings themselves (ids ``kcp_django.E0xx`` / ``W0xx``);
- :mod:`.gateways`: each merchant's gateway, always (``kcp_django.E011`` a test double in real
  mode, ``E012`` a gateway that cannot send);
- :mod:`.deploy`: what ``manage.py check --deploy`` adds for a server facing customers
  (ids ``kcp_django.E1xx`` / ``W1xx``).

The admin mixin's own checks (``kcp_django.E010``, ``E013``) live with the mixin, as Django's own
``ModelAdmin.check`` does.
"""

from kcp_django.checks import configuration, deploy, gateways

__all__ = ["configuration", "deploy", "gateways"]
