"""Base class every endpoint group derives from: POST only, the shared versioning,
authentication and error envelope come from settings."""

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response
from rest_framework.viewsets import ViewSet

from .versioning import VersionedEndpointMixin


class FacenitionViewSet(VersionedEndpointMixin, ViewSet):
    http_method_names = ["post"]

    def initial(self, request, *args, **kwargs):
        # A wrong method is the first thing to tell a caller, before a missing token.
        if request.method.lower() not in self.http_method_names:
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def ok(self, payload=None, status=200):
        return Response({"ok": True, **(payload or {})}, status=status)
