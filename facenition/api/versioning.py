"""The one place that decides which API version a request speaks.

`X-API-Version` beats the `/v1/` or `/v2/` path prefix; no prefix means v1. Any other version is
answered 404. An endpoint that exists only from some version on declares `min_version`.
"""

import re
from typing import TYPE_CHECKING

from rest_framework.exceptions import NotFound
from rest_framework.versioning import BaseVersioning

SUPPORTED_VERSIONS = ("1", "2")
DEFAULT_VERSION = "1"


class FacenitionVersioning(BaseVersioning):
    def determine_version(self, request, *args, **kwargs):
        header = request.headers.get("X-API-Version", "").strip()
        version = header or kwargs.get("version") or DEFAULT_VERSION
        if version.lower().startswith("v"):
            version = version[1:]
        if version not in SUPPORTED_VERSIONS:
            raise NotFound(f"API version {version!r} does not exist; use 1 or 2.")
        return version


if TYPE_CHECKING:
    from rest_framework.views import APIView as _View
else:
    _View = object  # importing DRF's views here would import this module's own setting: a cycle


class VersionedEndpointMixin(_View):
    """Lets a view say from which API version on it exists (`min_version = 2`)."""

    min_version = 1

    def determine_version(self, request, *args, **kwargs):
        version, scheme = super().determine_version(request, *args, **kwargs)
        if version is not None and int(version) < self.min_version:
            endpoint = re.sub(r"^/v\d+/", "/", request.path)
            raise NotFound(
                f"{endpoint} exists only from API v{self.min_version} on: "
                f"call /v{self.min_version}{endpoint} or send X-API-Version: {self.min_version}."
            )
        return version, scheme
