from rest_framework import serializers

from facenition.api.auth import presented_client_token
from facenition.api.views import FacenitionViewSet

from .services import client_token_describe, client_token_issue


class ClientTokenViewSet(FacenitionViewSet):
    """`/generateToken` (v1: issues at once) and `/token` (introspection)."""

    authentication_classes = []
    permission_classes = []

    class IssueInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        email = serializers.EmailField(required=False, allow_blank=True, default="")

    def generate(self, request, *args, **kwargs):
        data = self.IssueInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = client_token_issue(api_version=request.version, **data.validated_data)
        return self.ok({"token": raw, "expires_at": token.expires_at.isoformat()}, status=201)

    def describe(self, request, *args, **kwargs):
        token = client_token_describe(raw=presented_client_token(request))
        return self.ok(
            {
                "active": token.is_active(),
                "name": token.name,
                "api_version": token.api_version,
                "created_at": token.created_at.isoformat(),
                "expires_at": token.expires_at.isoformat(),
                "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
            }
        )
