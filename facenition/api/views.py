"""Base class every endpoint group derives from: POST only, the shared versioning,
authentication and error envelope come from settings."""

from rest_framework.response import Response
from rest_framework.viewsets import ViewSet

from .versioning import VersionedEndpointMixin


class FacenitionViewSet(VersionedEndpointMixin, ViewSet):
    def ok(self, payload=None, status=200):
        return Response({"ok": True, **(payload or {})}, status=status)
