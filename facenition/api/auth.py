"""Where a request carries its client token, and the permission every endpoint but the public ones
asks for. The token is checked where the tokens are (`credentials.auth`)."""

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


class HasClientToken(BasePermission):
    def has_permission(self, request, view):
        return request.auth is not None
