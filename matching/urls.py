from django.urls import re_path

from .api import MatchViewSet

urlpatterns = [
    re_path(r"^match/?$", MatchViewSet.as_view({"post": "match"}), name="match"),
]
