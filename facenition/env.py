"""Reading settings from the environment: `.env` loading and typed readers (`envint`, `envrate`, ...).

A reader never stops at a bad value: it adds it to `problems` and returns the default, so that the
settings module (facenition/settings.py) can refuse to start with every bad value listed at once.
"""

import os
import re
from urllib.parse import urlsplit


def load_dotenv(path):
    """Reads KEY=VALUE lines from `.env` (written by `make setup`); the real environment wins. An empty
    value means unset, as it does in `env()`: it is not put in the environment, where libraries that
    read their own variables (prometheus_client's PROMETHEUS_MULTIPROC_DIR) would take "" for a value."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            value = value.strip().strip("'\"")
            if value:
                os.environ.setdefault(key.strip(), value)


class SettingsProblems(list):
    """Every bad value found while reading the environment; start-up stops on the first read if any."""

    def add(self, name, value, expected):
        self.append(f"{name}={value!r}: expected {expected}.")


# Every helper below adds what it refuses here; the settings module stops start-up on them all at once.
problems = SettingsProblems()


def env(name, default=""):
    """The variable's value; unset and empty both mean the default."""
    return os.environ.get(name) or default


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def envbool(name, default=False):
    value = env(name).strip().lower()
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    problems.add(name, env(name), "true or false (also 1/0, yes/no, on/off)")
    return default


def envint(name, default, minimum=0):
    return _envnumber(name, default, int, minimum, f"a whole number, at least {minimum}")


def envfloat(name, default, minimum=0.0):
    return _envnumber(name, default, float, minimum, f"a number, at least {minimum:g}")


def _envnumber(name, default, parse, minimum, wanted):
    value = env(name).strip()
    if not value:
        return default
    try:
        number = parse(value)
    except ValueError:
        number = None
    if number is None or not number >= minimum:  # `not >=` also refuses a float NaN
        problems.add(name, value, wanted)
        return default
    return number


def envchoice(name, default, choices):
    value = env(name, default).strip()
    if value not in choices:
        problems.add(name, value, "one of " + ", ".join(choices))
        return default
    return value


RATE = re.compile(r"^(?P<count>[1-9][0-9]*)/(?P<multiplier>[1-9][0-9]*)?(?P<unit>[smhd])$")


def envrate(name, default):
    """A django-ratelimit rate, "count/period": "60/m", "5/10m" (units s, m, h, d)."""
    value = env(name, default).strip()
    if not RATE.match(value):
        problems.add(name, value, 'a rate "count/period" such as 60/m or 5/10m (period units s, m, h, d)')
        return default
    return value


ORIGIN = re.compile(r"^https?://[^/?#\s]+$")


def envorigins(name):
    """Comma-separated browser origins, scheme and host (and port) only: https://app.example.com."""
    origins = [part.strip() for part in env(name).split(",") if part.strip()]
    if not all(ORIGIN.match(origin) for origin in origins):
        problems.add(name, env(name), "comma-separated origins such as https://app.example.com (no path)")
        return []
    return origins


def envurl(name, schemes):
    value = env(name).strip()
    if value and urlsplit(value).scheme not in schemes:
        problems.add(name, value, "a URL starting with " + " or ".join(f"{scheme}://" for scheme in schemes))
        return ""
    return value
