"""Korea Standard Time, the zone of KCP's timestamps (``app_time``, ``tx_tm``) and of the days the
daily caps count. Imports nothing of the app, so every layer (gateways, services, faces) shares it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

__all__ = ["KST"]

KST = ZoneInfo("Asia/Seoul")
