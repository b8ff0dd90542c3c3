"""Client-token authentication shared by every endpoint."""

from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

TOKEN_HEADER = "X-Auth-Token"
TOKEN_FIELD = "auth_token"


def presented_client_token(request):
    """The client token a request carries, from the header or an `auth_token` field, or ''."""
    raw = request.headers.get(TOKEN_HEADER, "")
    if not raw:
        data = request.data
        value = data.get(TOKEN_FIELD, "") if hasattr(data, "get") else ""
        raw = value if isinstance(value, str) else ""
    return raw.strip()


class ClientTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        from credentials.services import client_token_authenticate

        raw = presented_client_token(request)
        if not raw:
            return None
        token = client_token_authenticate(raw=raw)
        return (token, token)

    def authenticate_header(self, request):
        return TOKEN_HEADER


class HasClientToken(BasePermission):
    def has_permission(self, request, view):
        return request.auth is not None
