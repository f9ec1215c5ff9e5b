"""The example shop's settings: everything secret comes from the environment (django-environ).

With no environment at all it runs in development: DEBUG on, SQLite, the sandbox gateway in test
mode and kcp-django's development keys (a system check warns loudly if those reach DEBUG=False).
"""

import importlib.util
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from kcp_django.conf import DEFAULT_NOTICE_IPS, settings_from_env

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="example-shop-development-only-secret-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django.contrib.humanize",
    "kcp_django",
    "example_project.shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "example_project.shop.context.gateway",
            ]
        },
    }
]
WSGI_APPLICATION = "example_project.wsgi.application"

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", "한국어"), ("en", "English")]
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "example_project" / "locale"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "shop:home"
LOGOUT_REDIRECT_URL = "shop:home"

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))

# KCP_MERCHANTS, KCP_ENCRYPTION_KEYS, KCP_INDEX_KEY from KCP_MODE, KCP_SITE_CD, KCP_SITE_KEY,
# KCP_GATEWAY, KCP_HOME_DIR, KCP_BIN, KCP_LOG_DIR, KCP_TIMEOUT, KCP_ENCRYPTION_KEYS, KCP_INDEX_KEY.
globals().update(settings_from_env(env))

# The REST API (kcp_django.api) at /kcp/; its OpenAPI schema at /kcp/schema/ when drf-spectacular (the
# "openapi" extra) is installed. EXAMPLE_API_BASIC_AUTH=1 also accepts HTTP Basic credentials, for trying
# it with curl; a real shop keeps its own authentication. A customer may verify accounts only for the
# refund references of their own orders (shop/api.py). KCP_API (JSON) overrides the rest.
OPENAPI = importlib.util.find_spec("drf_spectacular") is not None
if OPENAPI:
    INSTALLED_APPS.append("drf_spectacular")
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"} if OPENAPI else {}
SPECTACULAR_SETTINGS = {
    "TITLE": "kcp-django example shop",
    "DESCRIPTION": "Refund bank account verification through NHN KCP (계좌인증).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
}
KCP_API = {
    "AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        *(["rest_framework.authentication.BasicAuthentication"] if env.bool("EXAMPLE_API_BASIC_AUTH", False) else []),
    ],
    "REFERENCE_OWNER_CHECK": "example_project.shop.api.owns_reference",
    **env.json("KCP_API", default={}),
}
# KCP's notices (공통 통보) at /kcp/notices/ are heard only from KCP_NOTICE_IPS (comma-separated addresses or
# networks). Unset: KCP's published sender addresses, and with DEBUG on loopback too, so that
# `manage.py kcp_send_notice` can play KCP on this machine (never with DEBUG off).
KCP_NOTICE_IPS = env.list("KCP_NOTICE_IPS", default=[]) or [
    *DEFAULT_NOTICE_IPS,
    *(["127.0.0.1", "::1"] if DEBUG else []),
]
# Throttle counts must be shared by every worker process (kcp_django.W002): files on this host here.
CACHES = {"default": env.cache_url("CACHE_URL", default=f"filecache://{BASE_DIR / 'var' / 'cache'}")}

# The admin's bulk verification runs on Django's tasks framework. KCP_TASKS_BACKEND=immediate (default):
# inside the request. KCP_TASKS_BACKEND=database: queued in the database for `manage.py db_worker`
# (django-tasks-db, the "tasks-db" extra).
KCP_TASKS_BACKEND = env.str("KCP_TASKS_BACKEND", default="immediate")
if KCP_TASKS_BACKEND == "database":
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif KCP_TASKS_BACKEND != "immediate":
    raise ImproperlyConfigured(f"KCP_TASKS_BACKEND: 'immediate' or 'database', not {KCP_TASKS_BACKEND!r}.")
KCP_ADMIN_BULK_THRESHOLD = env.int("KCP_ADMIN_BULK_THRESHOLD", default=20)
KCP_BULK_CONCURRENCY = env.int("KCP_BULK_CONCURRENCY", default=8)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"kcp_django": {"handlers": ["console"], "level": env.str("KCP_LOG_LEVEL_NAME", default="INFO")}},
}
