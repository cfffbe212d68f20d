"""WSGI entry point, for tools that want one; the firm serves through daphne (asgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "propfirm.settings")
application = get_wsgi_application()
