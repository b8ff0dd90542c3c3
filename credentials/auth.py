"""Client-token authentication, named in REST_FRAMEWORK for every endpoint but the public ones."""

from rest_framework.authentication import BaseAuthentication

from facenition.api.auth import TOKEN_HEADER, presented_client_token

from .services import client_token_authenticate


class ClientTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw = presented_client_token(request)
        if not raw:
            return None
        token = client_token_authenticate(raw=raw)
        return (token, token)

    def authenticate_header(self, request):
        return TOKEN_HEADER
