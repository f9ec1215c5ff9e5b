"""Settings for the test suite. ``DATABASE_URL`` picks the database (SQLite by default)."""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent
env = environ.Env()

SECRET_KEY = "tests-only-secret-key-not-for-production"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Asia/Seoul"
LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", "한국어"), ("en", "English")]
USE_I18N = True

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'test.sqlite3'}"),
}
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: some tests open a second connection to the same database.
    DATABASES["default"]["TEST"]["NAME"] = str(BASE_DIR / f"test-db-{os.getpid()}.sqlite3")
    # Nothing here has to outlive a power cut: commits need not wait for the disk.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA synchronous=OFF;"
elif os.environ.get("KCP_TEST_DATABASE_NAME"):
    # Several suites on one server at once (parallel work on one machine): each its own test database.
    DATABASES["default"]["TEST"]["NAME"] = os.environ["KCP_TEST_DATABASE_NAME"]
if DATABASES["default"]["ENGINE"].endswith("mysql"):
    DATABASES["default"].setdefault("OPTIONS", {})["charset"] = "utf8mb4"
    DATABASES["default"]["TEST"]["CHARSET"] = "utf8mb4"
    DATABASES["default"]["TEST"]["COLLATION"] = "utf8mb4_unicode_ci"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "kcp_django",
    "tests.fieldapp",
    "tests.shopapp",
    "django.contrib.humanize",
    "example_project.shop",
]
LOCALE_PATHS = [BASE_DIR.parent / "example_project" / "locale"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
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
            ]
        },
    }
]
STATIC_URL = "static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEST_SITE_KEY = "Zq9vX2mK7pL4sT8wR3nB6yC1_"
KCP_MERCHANTS = {
    "default": {
        "BACKEND": "kcp_django.gateways.sandbox.SandboxGateway",
        "OPTIONS": {"MODE": "test", "SITE_CD": "T0000", "SITE_KEY": TEST_SITE_KEY, "TIMEOUT": 5},
    },
}
KCP_ENCRYPTION_KEYS = [
    "k2:Uk1XQ3Z1bEdPbE14bHlaMFpaRzNRTmtTZ0hSanFxR1g=",
    "k1:c2Vjb25kLWtleS1mb3ItdGVzdHMtb25seS0zMmJ5dGU=",
]
KCP_INDEX_KEY = "aW5kZXgta2V5LWZvci10ZXN0cy1vbmx5LTMyYnl0ZXM="
