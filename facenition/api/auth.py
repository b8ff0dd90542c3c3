"""Where a request carries its client token, and the permission every endpoint but the public ones
asks for. The token is checked where the tokens are (`credentials.auth`)."""

from rest_framework.permissions import BasePermission

from facenition.errors import BadRequest

TOKEN_HEADER = "X-Auth-Token"
TOKEN_FIELD = "auth_token"
BEARER = "bearer "


def presented_client_token(request):
    """The client token a request carries, or '': from the X-Auth-Token header or an
    `Authorization: Bearer` header (what generated clients and HTTP libraries send), else an
    `auth_token` field. Both headers with different tokens is a mistake worth naming: 400."""
    header = request.headers.get(TOKEN_HEADER, "").strip()
    authorization = request.headers.get("Authorization", "")
    bearer = authorization[len(BEARER) :].strip() if authorization.lower().startswith(BEARER) else ""
    if header and bearer and header != bearer:
        raise BadRequest(
            f"{TOKEN_HEADER} and Authorization: Bearer carry different client tokens; send the client token once."
        )
    raw = header or bearer
    if not raw:
        data = request.data
        value = data.get(TOKEN_FIELD, "") if hasattr(data, "get") else ""
        raw = value if isinstance(value, str) else ""
    return raw.strip()


class HasClientToken(BasePermission):
    def has_permission(self, request, view):
        return request.auth is not None
