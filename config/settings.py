"""Settings, read from the environment only.

Over 400 lines on purpose: one settings module is the one place every variable is read
(STYLE.md); splitting it would hide a default or an ordering dependency.

Defaults give the embedded mode (SQLite, in-process cache, eager jobs, no services);
each real service is switched on by one URL variable. `.env.example` lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


class _SetValues(Mapping[str, str]):
    """The process environment with blank values hidden: `NAME=` means "use the default".

    `.env.example` (and an env file made from it) lists every variable, most of them blank;
    without this a blank `SECURE_SSL_REDIRECT=` would read as False and `SECURE_HSTS_SECONDS=`
    would fail to parse instead of taking their production defaults.
    """

    def __getitem__(self, name: str) -> str:
        value = os.environ[name]
        if value == "":
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name, value in os.environ.items() if value != "")

    def __len__(self) -> int:
        return sum(1 for _ in self)


# The env file: `.env` in the checkout, or ENV_FILE (e.g. /etc/platform/env, the same file
# systemd's EnvironmentFile= reads). Variables already exported win over the file.
ENV_FILE = Path(os.environ.get("ENV_FILE") or BASE_DIR / ".env")
if os.environ.get("ENV_FILE") and not ENV_FILE.is_file():
    raise ImproperlyConfigured(f"ENV_FILE={ENV_FILE} does not exist")


class _FileValues(environ.Env):
    # read_env fills this, not os.environ. environ only reads ENVIRON as a mapping; the type it
    # infers for it is os.environ's.
    ENVIRON: dict[str, str] = {}  # type: ignore[assignment]


_FileValues.read_env(ENV_FILE, overwrite=True)
for _name, _value in _FileValues.ENVIRON.items():
    # Blank lines of the file stay out of os.environ: libraries test for presence, e.g.
    # prometheus_client writes metric files into the working directory when
    # PROMETHEUS_MULTIPROC_DIR is set but blank.
    if _value != "":
        os.environ.setdefault(_name, _value)
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == "":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
env = environ.Env()
env.ENVIRON = _SetValues()  # type: ignore[assignment]  # a mapping, as above

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG=0")
    SECRET_KEY = "insecure-dev-only-key-never-use-in-production-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG=0")

# Peers whose X-Forwarded-For is believed (load balancers, CDN edges). Empty: trust nobody.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Exports its migration gauges; request metrics come from monitoring's own cheaper middleware.
    "django_prometheus",
    "core",
    "accounts",
    "stats",
    "posts",
    "tasks",
    "syncqueue",
    "monitoring",
]

MIDDLEWARE = [
    "core.middleware.RequestContextMiddleware",
    "monitoring.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    # Django's session, session-auth and messages layers, skipped for /api/ (JWT clients):
    # they serve the admin and /ops/ only (core.middleware, issue #12).
    "core.middleware.SiteSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.SiteAuthenticationMiddleware",
    "core.middleware.SiteMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# Resources have no trailing slash and the other form is a 404, never a redirect.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --------------------------------------------------------------------------- databases
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DB_CONN_MAX_AGE_SECONDS = env.int("DB_CONN_MAX_AGE_SECONDS", default=60)
DB_CONNECT_TIMEOUT_SECONDS = env.int("DB_CONNECT_TIMEOUT_SECONDS", default=3)
DB_LOCK_WAIT_TIMEOUT_SECONDS = env.int("DB_LOCK_WAIT_TIMEOUT_SECONDS", default=10)
# Request-path limits, web processes only (config/database.py has the whole design; jobs,
# migrations and seeding keep none). Whole seconds where libmariadb counts whole seconds.
# A connect on the request path (a LAN round trip or three) gives up after this.
DB_REQUEST_CONNECT_TIMEOUT_SECONDS = env.int("DB_REQUEST_CONNECT_TIMEOUT_SECONDS", default=1)
# Per socket read or write once an answer has started (the wait for the first byte is the
# request deadline's), and for COMMIT, ROLLBACK and the handshake. 0 disables one.
DB_READ_TIMEOUT_SECONDS = env.int("DB_READ_TIMEOUT_SECONDS", default=2)
DB_WRITE_TIMEOUT_SECONDS = env.int("DB_WRITE_TIMEOUT_SECONDS", default=2)
# MariaDB max_statement_time: the server stops a statement the request has given up on.
DB_STATEMENT_TIMEOUT_SECONDS = env.float("DB_STATEMENT_TIMEOUT_SECONDS", default=4.0)
# Each request's database deadline, from its start; statements wait no longer than it and none
# is sent after it (503). 0 turns the deadline and the gate off. Worst case of one request
# about 20 s (config/database.py), under the 30 s web worker timeout.
DB_REQUEST_BUDGET_SECONDS = env.float("DB_REQUEST_BUDGET_SECONDS", default=5.0)
# A kept connection must answer `DO 1` within this at a request's first query; otherwise the
# process answers 503 at once for that database until a probe is answered within it again.
DB_PING_TIMEOUT_SECONDS = env.float("DB_PING_TIMEOUT_SECONDS", default=0.5)


def _tune_database(config: dict[str, Any], *, alias: str) -> dict[str, Any]:
    config.setdefault("CONN_MAX_AGE", DB_CONN_MAX_AGE_SECONDS)
    config["CONN_HEALTH_CHECKS"] = True
    if config["ENGINE"] == "django.db.backends.mysql":
        # Django's backend plus the request-path deadline and gate (config/mariadb).
        config["ENGINE"] = "config.mariadb"
        options = config.setdefault("OPTIONS", {})
        options.setdefault("charset", "utf8mb4")
        options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT_SECONDS)
        options.setdefault("isolation_level", "read committed")
        options.setdefault(
            "init_command",
            "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
            "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',"
            f" innodb_lock_wait_timeout={DB_LOCK_WAIT_TIMEOUT_SECONDS},"
            " collation_connection='utf8mb4_unicode_ci'",
        )
        config.setdefault("TEST", {}).setdefault("CHARSET", "utf8mb4")
        config["TEST"].setdefault("COLLATION", "utf8mb4_unicode_ci")
    elif config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config.setdefault("OPTIONS", {}).setdefault("timeout", 20)
    return config


_tune_database(DATABASES["default"], alias="default")

DATABASE_REPLICA_URLS = env.list("DATABASE_REPLICA_URLS", default=[])
DATABASE_REPLICAS = []
for _index, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    _alias = f"replica_{_index}"
    DATABASES[_alias] = _tune_database(env.db_url_config(_url), alias=_alias)
    DATABASES[_alias].setdefault("TEST", {})["MIRROR"] = "default"
    DATABASE_REPLICAS.append(_alias)

DATABASE_ROUTERS = ["config.db_router.PrimaryReplicaRouter"]
# After a write the user reads from the primary for this long (replica lag budget).
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=5)
# A replica that failed to connect is skipped for this long in this process.
REPLICA_DOWN_SECONDS = env.int("REPLICA_DOWN_SECONDS", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --------------------------------------------------------------------------- redis
# Coordination role: locks, limiter, generations, budgets, the stats entry. Must not evict.
REDIS_URL = env.str("REDIS_URL", default="")
# Disposable caches (allkeys-lru). Defaults to the coordination instance.
REDIS_CACHE_URL = env.str("REDIS_CACHE_URL", default=REDIS_URL)
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=0.1)
REDIS_CONNECT_TIMEOUT_SECONDS = env.float("REDIS_CONNECT_TIMEOUT_SECONDS", default=0.1)
# After a Redis failure this process skips Redis for this long instead of waiting on timeouts.
REDIS_BREAKER_SECONDS = env.float("REDIS_BREAKER_SECONDS", default=2.0)
# Single flight of the generation-keyed caches (core.cache): on a miss one process computes
# under a lock this long-lived; the others wait at most CACHE_FLIGHT_WAIT_MS for its value,
# then compute for themselves.
CACHE_FLIGHT_LOCK_MS = env.int("CACHE_FLIGHT_LOCK_MS", default=1000)
CACHE_FLIGHT_WAIT_MS = env.int("CACHE_FLIGHT_WAIT_MS", default=500)


def _cache(url: str, *, location_name: str) -> dict[str, Any]:
    if not url:
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": location_name,
        }
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": REDIS_CONNECT_TIMEOUT_SECONDS,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT_SECONDS,
            # A cache outage degrades to the database; it never fails a request.
            "IGNORE_EXCEPTIONS": True,
        },
    }


CACHES = {
    "default": _cache(REDIS_CACHE_URL, location_name="platform-cache"),
}
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --------------------------------------------------------------------------- celery
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = env.bool("CELERY_TASK_EAGER_PROPAGATES", default=False)
# Hard limit of the longest job; the broker visibility timeout must stay above it.
CELERY_TASK_SOFT_TIME_LIMIT_SECONDS = env.int("CELERY_TASK_SOFT_TIME_LIMIT_SECONDS", default=240)
CELERY_TASK_TIME_LIMIT_SECONDS = env.int("CELERY_TASK_TIME_LIMIT_SECONDS", default=300)
CELERY_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3600)


def _queue_seconds(text: str) -> dict[str, int]:
    """ "sync=300,reminders=420" -> {"sync": 300, "reminders": 420}; refuses anything else."""
    parsed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        queue, _, seconds = item.partition("=")
        if not queue.strip() or not seconds.strip().isdigit() or int(seconds) <= 0:
            raise ImproperlyConfigured(
                f"CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS: bad item {item!r}"
            )
        parsed[queue.strip()] = int(seconds)
    return parsed


# A dead worker's unacknowledged jobs come back after this per queue (Redis broker,
# config/broker.py), instead of CELERY_VISIBILITY_TIMEOUT_SECONDS. Each must exceed the longest
# hard time limit plus the longest retry countdown of that queue's jobs (tests check it):
# sync 240 s jobs and no countdowns; reminders and urgent 60 s chunks retried after up to 70 s
# (tasks.jobs.SEND_RETRY_MAX_COUNTDOWN_SECONDS) and the 60 s stats refresh. A retried message
# that waits longer behind a busy worker may run twice: the sent ledger keeps that at most once.
CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS = _queue_seconds(
    env.str("CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS", default="sync=300,reminders=150,urgent=150")
)
# Publishing from a request (web, beat) gets the same budget as any other Redis call and no
# reconnect loop; after a failure the process skips publishing for REDIS_BREAKER_SECONDS.
CELERY_PUBLISH_TIMEOUT_SECONDS = env.float(
    "CELERY_PUBLISH_TIMEOUT_SECONDS", default=REDIS_SOCKET_TIMEOUT_SECONDS
)
# Workers consume with longer broker timeouts and reconnect on their own (kombu's retry loop).
CELERY_WORKER_BROKER_TIMEOUT_SECONDS = env.float(
    "CELERY_WORKER_BROKER_TIMEOUT_SECONDS", default=1.0
)
CELERY_WORKER_METRICS_PORT = env.int("CELERY_WORKER_METRICS_PORT", default=9808)
# Prometheus scrapes workers from its own host; bind narrower where the network allows.
CELERY_WORKER_METRICS_ADDR = env.str("CELERY_WORKER_METRICS_ADDR", default="0.0.0.0")  # noqa: S104

# --------------------------------------------------------------------------- auth / DRF
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.VersionedJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.ScopedRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.BoundedJSONParser"],
    "DEFAULT_METADATA_CLASS": "core.metadata.ApiMetadata",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "core.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.ApiAutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

JWT_SIGNING_KEY = env.str("JWT_SIGNING_KEY", default="")
if not JWT_SIGNING_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("JWT_SIGNING_KEY is required when DEBUG=0")
    JWT_SIGNING_KEY = "insecure-dev-only-jwt-key-never-use-in-production-0123456789"
JWT_ACCESS_TTL_SECONDS = env.int("JWT_ACCESS_TTL_SECONDS", default=900)
JWT_REFRESH_TTL_SECONDS = env.int("JWT_REFRESH_TTL_SECONDS", default=7 * 86400)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=JWT_ACCESS_TTL_SECONDS),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=JWT_REFRESH_TTL_SECONDS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Platform API",
    "DESCRIPTION": "Stats, posts, tasks, users, sync and monitoring endpoints.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]",
}

# --------------------------------------------------------------------------- API conventions
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# JSON bodies (core.parsers): our deepest body nests 3 levels and the largest holds ~30 members;
# the C decoder itself overflows its recursion limit near 1,000 levels.
API_JSON_MAX_DEPTH = 32
API_JSON_MAX_MEMBERS = 10_000
API_PAGE_SIZE = 20
API_MAX_PAGE_SIZE = 100
# Signs opaque cursors; rotate independently of SECRET_KEY if needed.
CURSOR_SIGNING_KEY = env.str("CURSOR_SIGNING_KEY", default=SECRET_KEY)

# "60/m" = a burst of 60, then one per second (GCRA; same as nginx rate=60r/m burst=59 nodelay).
RATE_LIMITS = {
    "stats": env.str("RATE_LIMIT_STATS", default="60/m"),
    "tasks": env.str("RATE_LIMIT_TASKS", default="60/m"),
    "auth": env.str("RATE_LIMIT_AUTH", default="10/m"),
    "default": env.str("RATE_LIMIT_DEFAULT", default="120/m"),
    # Admin sign-in attempts (POST /admin/login/), per client IP and per username; one person
    # never needs more, and a password guesser gets 5 tries then one per 3 minutes per account.
    "admin_login_ip": env.str("RATE_LIMIT_ADMIN_LOGIN_IP", default="10/m"),
    "admin_login_user": env.str("RATE_LIMIT_ADMIN_LOGIN_USER", default="5/15m"),
}
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=True)
# Scopes that refuse (503) rather than fall back to an in-process limiter when Redis is down.
RATE_LIMIT_FAIL_CLOSED_SCOPES = {"auth", "admin_login_ip", "admin_login_user"}

# --------------------------------------------------------------------------- stats
STATS_FRESH_SECONDS = env.int("STATS_FRESH_SECONDS", default=300)
STATS_MAX_STALE_SECONDS = env.int("STATS_MAX_STALE_SECONDS", default=600)
STATS_LKG_MAX_AGE_SECONDS = env.int("STATS_LKG_MAX_AGE_SECONDS", default=86_400)
STATS_LOCK_SECONDS = env.int("STATS_LOCK_SECONDS", default=10)
STATS_COLD_WAIT_MS = env.int("STATS_COLD_WAIT_MS", default=300)
# Upper bound of max-age on GET /api/stats (shared caches, nginx microcache); never past freshness.
STATS_HTTP_MAX_AGE_SECONDS = env.int("STATS_HTTP_MAX_AGE_SECONDS", default=60)
# Where a refresh gets its numbers: "aggregates" (COUNT/SUM over the tables, two statements) or
# "counters" (exact sharded counters: one small statement; recounted on a replica by beat).
STATS_SOURCE = env.str("STATS_SOURCE", default="aggregates")
# GET /api/stats answered by a WSGI shortcut in front of Django (config.fastpath): same bytes,
# headers and metrics at less than half the CPU. 0 sends it through Django like any request.
STATS_WSGI_SHORTCUT = env.bool("STATS_WSGI_SHORTCUT", default=True)

# --------------------------------------------------------------------------- posts
POSTS_V1_CACHE_SECONDS = env.int("POSTS_V1_CACHE_SECONDS", default=600)
POSTS_V2_CACHE_SECONDS = env.int("POSTS_V2_CACHE_SECONDS", default=300)
POSTS_V1_SUNSET = env.str("POSTS_V1_SUNSET", default="2027-06-30T00:00:00Z")
POSTS_V1_DEPRECATED_AT = env.str("POSTS_V1_DEPRECATED_AT", default="2026-11-01T00:00:00Z")
POSTS_EVENT_RETENTION_DAYS = env.int("POSTS_EVENT_RETENTION_DAYS", default=30)
POSTS_NOTIFY_CHUNK_SIZE = env.int("POSTS_NOTIFY_CHUNK_SIZE", default=300)
# Publishes within this window share one sitemap regeneration (bursts coalesce).
POSTS_SITEMAP_COALESCE_SECONDS = env.int("POSTS_SITEMAP_COALESCE_SECONDS", default=10)
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --------------------------------------------------------------------------- tasks
TASKS_LIST_CACHE_SECONDS = env.int("TASKS_LIST_CACHE_SECONDS", default=300)
TASKS_STATS_CACHE_SECONDS = env.int("TASKS_STATS_CACHE_SECONDS", default=3600)
REMINDER_CHUNK_SIZE = env.int("REMINDER_CHUNK_SIZE", default=300)
REMINDER_LOCAL_HOUR = env.int("REMINDER_LOCAL_HOUR", default=9)
DIGEST_LOCAL_HOUR = env.int("DIGEST_LOCAL_HOUR", default=8)
TASKS_LEDGER_RETENTION_DAYS = env.int("TASKS_LEDGER_RETENTION_DAYS", default=90)

# --------------------------------------------------------------------------- syncqueue
SYNC_PROVIDER_URL = env.str("SYNC_PROVIDER_URL", default="")
SYNC_PROVIDER_TOKEN = env.str("SYNC_PROVIDER_TOKEN", default="")
SYNC_PROVIDER_TIMEOUT_SECONDS = env.float("SYNC_PROVIDER_TIMEOUT_SECONDS", default=10.0)
SYNC_TRACKED_FIELDS = env.list(
    "SYNC_TRACKED_FIELDS",
    default=["email", "name", "timezone", "locale", "phone", "marketing_opt_in", "plan"],
)
SYNC_COALESCE = env.bool("SYNC_COALESCE", default=True)
SYNC_WINDOW_SECONDS = env.int("SYNC_WINDOW_SECONDS", default=3600)
SYNC_BATCH_CALLS_PER_WINDOW = env.int("SYNC_BATCH_CALLS_PER_WINDOW", default=50)
SYNC_SINGLE_CALLS_PER_WINDOW = env.int("SYNC_SINGLE_CALLS_PER_WINDOW", default=3600)
SYNC_BATCH_SIZE = env.int("SYNC_BATCH_SIZE", default=1000)
SYNC_MAX_DELAY_SECONDS = env.int("SYNC_MAX_DELAY_SECONDS", default=300)
SYNC_MAX_RETRIES = env.int("SYNC_MAX_RETRIES", default=8)
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=300)
# Beat's sync tick (due retries, flushes of old partial batches, expired leases) runs this often.
SYNC_TICK_SECONDS = env.int("SYNC_TICK_SECONDS", default=60)
# A failed delivery is due again after BASE * 2^(tries - 1) s, half of it jittered, at most CAP
# (one budget window). The provider-outage drill shrinks these with the window to compress time.
SYNC_BACKOFF_BASE_SECONDS = env.int("SYNC_BACKOFF_BASE_SECONDS", default=30)
SYNC_BACKOFF_CAP_SECONDS = env.int("SYNC_BACKOFF_CAP_SECONDS", default=3600)
SYNC_RETENTION_DAYS = env.int("SYNC_RETENTION_DAYS", default=14)
SYNC_CALL_RETENTION_DAYS = env.int("SYNC_CALL_RETENTION_DAYS", default=30)
# Alert when the oldest unsent row is older than this, or the batch budget ran out this many windows in a row.

# --------------------------------------------------------------------------- monitoring
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
DRAIN_SECONDS = env.int("DRAIN_SECONDS", default=30)
DRAIN_FILE = env.str("DRAIN_FILE", default=str(VAR_DIR / "drain"))
ALERT_RESPONSE_TIME_MS = env.int("ALERT_RESPONSE_TIME_MS", default=1000)
ALERT_ERRORS_PER_MINUTE = env.int("ALERT_ERRORS_PER_MINUTE", default=10)
ALERT_QUEUE_SIZE = env.int("ALERT_QUEUE_SIZE", default=1000)
ALERT_OUTBOX_BACKLOG = env.int("ALERT_OUTBOX_BACKLOG", default=100_000)
ALERT_OUTBOX_OLDEST_SECONDS = env.int("ALERT_OUTBOX_OLDEST_SECONDS", default=3600)
ALERT_OUTBOX_FAILED = env.int("ALERT_OUTBOX_FAILED", default=100)
ALERT_BUDGET_EXHAUSTED_WINDOWS = env.int("ALERT_BUDGET_EXHAUSTED_WINDOWS", default=3)
ALERT_COOLDOWN_SECONDS = env.int("ALERT_COOLDOWN_SECONDS", default=900)
# Beat runs every registered alert check this often (monitoring.jobs.evaluate_alerts).
ALERT_EVALUATE_SECONDS = env.int("ALERT_EVALUATE_SECONDS", default=60)
SLACK_WEBHOOK_URL = env.str("SLACK_WEBHOOK_URL", default="")
SLACK_ALERTS_ENABLED = env.bool("SLACK_ALERTS_ENABLED", default=False)
DISCORD_WEBHOOK_URL = env.str("DISCORD_WEBHOOK_URL", default="")
DISCORD_ALERTS_ENABLED = env.bool("DISCORD_ALERTS_ENABLED", default=False)
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=3.0)
ALERT_EVENT_RETENTION_DAYS = env.int("ALERT_EVENT_RETENTION_DAYS", default=90)
SLOW_QUERY_MS = env.int("SLOW_QUERY_MS", default=100)
SLOW_QUERY_LOG_PARAMS = env.bool("SLOW_QUERY_LOG_PARAMS", default=False)
OTEL_ENABLED = env.bool("OTEL_ENABLED", default=False)

# --------------------------------------------------------------------------- i18n, static, email
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_SECONDS", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@example.com")

# --------------------------------------------------------------------------- security
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# TLS ends at nginx; it sets X-Forwarded-Proto on the hop it owns.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^api/health", r"^api/metrics$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "core.errors.csrf_failure"
# Content-Security-Policy of the pages (admin, /ops/, /api/docs/), by django-csp through
# core.middleware.ContentSecurityPolicyMiddleware; JSON under /api/ gets "default-src 'none'".
# Nothing inline: scripts and styles are static files (the docs page's init script is served
# from /api/docs/?script). data: images are the admin's and Swagger UI's inline SVG icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --------------------------------------------------------------------------- logging
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "core.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_JSON else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING", "propagate": True},
        "django.request": {"level": "ERROR", "propagate": True},
        # httpx logs every request's full URL at INFO, and the Slack/Discord webhook URLs are
        # credentials (their path is the secret); tests/test_secrets_in_logs.py checks.
        "httpx": {"level": "WARNING", "propagate": True},
        "httpcore": {"level": "WARNING", "propagate": True},
    },
}
