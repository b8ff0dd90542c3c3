"""gunicorn settings for the Procfile's web process and `make run`."""

import os

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 1
timeout = 60
# Loading the app in the master lets every worker share the model weights' pages.
preload_app = True
accesslog = "-"
