from django.urls import re_path

from .api import ClientTokenViewSet

urlpatterns = [
    re_path(r"^generateToken/?$", ClientTokenViewSet.as_view({"post": "generate"}), name="generate-token"),
    re_path(r"^token/?$", ClientTokenViewSet.as_view({"post": "describe"}), name="token"),
]
