"""Base classes every endpoint group derives from: POST only, the shared versioning,
authentication and error envelope come from settings. `PublicViewSet` is for the endpoints that
need no client token and are rate-limited per client IP instead."""

from typing import Any

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.viewsets import ViewSet

from .ratelimits import PerClientIp
from .versioning import VersionedEndpointMixin


class FacenitionViewSet(VersionedEndpointMixin, ViewSet):
    http_method_names = ["post"]

    def initial(self, request, *args, **kwargs):
        # A wrong method is the first thing to tell a caller, before a missing token.
        if request.method.lower() not in self.http_method_names:
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def _input(self, serializer_class: type[Serializer], request: Request) -> dict[str, Any]:
        """The request's fields, validated by `serializer_class`; a 400 naming the field otherwise."""
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    def ok(self, answer: Serializer, status: int = 200) -> Response:
        """The answer an endpoint's OutputSerializer (an `Answer`) renders from its service's result."""
        return Response(answer.data, status=status)


class PublicViewSet(FacenitionViewSet):
    """An endpoint group that needs no client token: limited per client IP."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    throttle_classes = [PerClientIp]
