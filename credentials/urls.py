from django.urls import re_path

from facenition.api.dispatch import by_version

from .api import ClientTokenRotationViewSet, ClientTokenViewSet, VerificationViewSet, VerifiedClientTokenViewSet

generate_token = by_version(
    {1: ClientTokenViewSet.as_view({"post": "generate"}), 2: VerifiedClientTokenViewSet.as_view({"post": "generate"})}
)

urlpatterns = [
    re_path(r"^generateToken/?$", generate_token, name="generate-token"),
    re_path(r"^token/?$", ClientTokenViewSet.as_view({"post": "describe"}), name="token"),
    re_path(r"^rotateToken/?$", ClientTokenRotationViewSet.as_view({"post": "rotate"}), name="rotate-token"),
    re_path(r"^new-credentials/?$", VerificationViewSet.as_view({"post": "request_codes"}), name="new-credentials"),
    re_path(
        r"^authenticate-credentials/?$",
        VerificationViewSet.as_view({"post": "confirm"}),
        name="authenticate-credentials",
    ),
]
