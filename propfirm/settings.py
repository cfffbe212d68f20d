"""The one settings module, read from the environment (see .env.example).

Every variable has a default that works on our machines, except where production
needs a secret. A malformed value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_url(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    raw = env.str(name, default=default)
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a valid URL: expected {' or '.join(schemes)}://host[:port]/…"
        )
    try:
        parsed.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} has an invalid port") from None
    return raw


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.str(name, default=default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


# --- environment ------------------------------------------------------------------------------

PROPFIRM_ENV = env_choice("PROPFIRM_ENV", "development", ("development", "production"))
PRODUCTION = PROPFIRM_ENV == "production"
DEBUG = env_bool("DEBUG", False)

_DEV_SECRET = "dev-only-insecure-secret-key-never-use-in-production-0123456789abcdef"
SECRET_KEY = env.str("SECRET_KEY", default=None if PRODUCTION else _DEV_SECRET)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when PROPFIRM_ENV=production")
if PRODUCTION and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("SECRET_KEY must be a random string of 50 characters or more")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000", schemes=("http", "https"))

# --- applications -----------------------------------------------------------------------------

INSTALLED_APPS = [
    "daphne",
    "apps.accounts.admin_config.PropfirmAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_countries",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "apps.core",
    "apps.accounts",
    "apps.market",
    "apps.trading",
    "apps.challenges",
    "apps.risk",
    "apps.billing",
    "apps.payouts",
    "apps.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.middleware.StaffMFARequiredMiddleware",
]

ROOT_URLCONF = "propfirm.urls"
ASGI_APPLICATION = "propfirm.asgi.application"

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
                "apps.accounts.context_processors.brand",
            ],
        },
    },
]

# --- data -------------------------------------------------------------------------------------

DATABASE_URL = env_url(
    "DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/propfirm",
    schemes=("postgres", "postgresql"),
)
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# A connection pool (psycopg's): opening a connection costs more than most requests' queries,
# and under ASGI each request runs in its own thread, so per-thread persistent connections
# (CONN_MAX_AGE) would pile up. DB_POOL_SIZE=0 turns the pool off.
DB_POOL_SIZE = env_int("DB_POOL_SIZE", 10)
DATABASES["default"]["CONN_MAX_AGE"] = 0
if DB_POOL_SIZE:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_SIZE,
        "timeout": 10,
    }
# Threads of a web process serving the REST API (apps/core/asgi_http.py); each holds at most one
# pooled connection during a request, so no more than the pool.
HTTP_THREADS = env_int("HTTP_THREADS", max(1, min(8, DB_POOL_SIZE or 8)), minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss"))
CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", REDIS_URL, schemes=("redis", "rediss", "amqp"))
CELERY_RESULT_BACKEND = env_url("CELERY_RESULT_BACKEND", REDIS_URL, schemes=("redis", "rediss"))

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "propfirm",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "apps.core.channel_layer.PubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "propfirm:asgi"},
    }
}

# --- Celery (the beat schedule is declared in propfirm/celery.py) -----------------------------

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540, minimum=1)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- people -----------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
# A candidate who mistypes or reuses an address is told so; the firm prefers a clear
# message to hiding which addresses hold an account.
ACCOUNT_PREVENT_ENUMERATION = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
ACCOUNT_DEFAULT_HTTP_PROTOCOL = urlparse(SITE_URL).scheme
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
# allauth's rate limits are on by default and count in the cache, which is Redis.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Accept the code of the neighbouring 30-second period too: a code typed as the period turns
# is still the person's (the usual authenticator tolerance).
MFA_TOTP_TOLERANCE = 1
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Propfirm")

# Demo people (seed_demo) live in this domain; demo_totp refuses anyone outside it.
DEMO_EMAIL_DOMAIN = "demo.test"
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo-pass-2026")

# --- e-mail -----------------------------------------------------------------------------------

_email_url = env.str("EMAIL_URL", default="consolemail://")
try:
    _email = env.email_url_config(_email_url)
except Exception:
    raise ImproperlyConfigured(f"EMAIL_URL={_email_url!r} is not a valid e-mail URL") from None
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
if EMAIL_BACKEND.endswith("filebased.EmailBackend"):
    # filemail:///abs/path: django-environ drops the leading slash of an absolute path.
    _email["EMAIL_FILE_PATH"] = urlparse(_email_url).path
for _key in (
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_FILE_PATH",
):
    if _email.get(_key) not in (None, ""):
        globals()[_key] = _email[_key]
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="no-reply@propfirm.local")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- static files (WhiteNoise) ----------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Front-end libraries from the npm registry, pinned by package-lock.json (`npm ci`).
    ("vendor/htmx", BASE_DIR / "node_modules/htmx.org/dist"),
    ("vendor/lightweight-charts", BASE_DIR / "node_modules/lightweight-charts/dist"),
]
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
_manifest = env_bool("STATIC_MANIFEST", True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _manifest
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- REST API ---------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.api_auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "apps.accounts.api_auth.TradingScopeForWrites",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["apps.accounts.api_auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("API_RATE_LIMIT", default="1200/min")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Propfirm trader API",
    "DESCRIPTION": (
        "Trade your accounts by API. Authenticate with `Authorization: Bearer <key>` (create "
        "keys on your profile page). Send an `Idempotency-Key` header with every write: a "
        "repeat returns the first answer, the same key with another body is refused (422). "
        "Amounts and prices are decimal strings."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- time and the shared clock ----------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# A clock that tests and demos can move, shared through Redis by every process. Never in
# production: there, now() is the machine's UTC time and nothing else.
CLOCK_SHARED = env_bool("CLOCK_SHARED", not PRODUCTION)
if PRODUCTION and CLOCK_SHARED:
    raise ImproperlyConfigured("CLOCK_SHARED cannot be on when PROPFIRM_ENV=production")

# --- security ---------------------------------------------------------------------------------

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}

# --- billing ----------------------------------------------------------------------------------

# sandbox: a TEST checkout page that can succeed or fail (refused in production); stripe:
# Stripe Checkout, fulfilled by its signed webhook.
PAYMENT_PROVIDER = env_choice(
    "PAYMENT_PROVIDER", "stripe" if PRODUCTION else "sandbox", ("sandbox", "stripe")
)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# ISO 3166 alpha-2 codes of the countries the firm does not sell to.
REFUSED_COUNTRIES = [
    c.strip().upper()
    for c in env.list("REFUSED_COUNTRIES", default=["US", "KP", "IR", "CU", "SY"])
    if c.strip()
]
for _country in REFUSED_COUNTRIES:
    if len(_country) != 2 or not _country.isalpha():
        raise ImproperlyConfigured(
            f"REFUSED_COUNTRIES has {_country!r}: use two-letter country codes, e.g. US,KP"
        )
