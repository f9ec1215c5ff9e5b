"""KCP's common notification (공통 통보): ``path("kcp/notices/", include("kcp_django.notices.urls"))``."""
