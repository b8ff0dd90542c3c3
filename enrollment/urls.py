from django.urls import re_path

from .api import EnrollmentViewSet

urlpatterns = [
    re_path(r"^generate/?$", EnrollmentViewSet.as_view({"post": "generate"}), name="generate"),
    re_path(r"^authenticate/?$", EnrollmentViewSet.as_view({"post": "authenticate"}), name="authenticate"),
    re_path(r"^revoke/?$", EnrollmentViewSet.as_view({"post": "revoke"}), name="revoke"),
    re_path(r"^rotate/?$", EnrollmentViewSet.as_view({"post": "rotate"}), name="rotate"),
]
