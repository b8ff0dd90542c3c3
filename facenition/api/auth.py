"""Client-token authentication shared by every endpoint."""

from rest_framework.authentication import BaseAuthentication
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
