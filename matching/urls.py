from django.urls import re_path

from .api import GalleryViewSet, MatchViewSet

urlpatterns = [
    re_path(r"^match/?$", MatchViewSet.as_view({"post": "match"}), name="match"),
    re_path(r"^gallery/enroll/?$", GalleryViewSet.as_view({"post": "enroll"}), name="gallery-enroll"),
    re_path(r"^gallery/identify/?$", GalleryViewSet.as_view({"post": "identify"}), name="gallery-identify"),
    re_path(r"^gallery/subjects/?$", GalleryViewSet.as_view({"post": "subjects"}), name="gallery-subjects"),
    re_path(r"^gallery/forget/?$", GalleryViewSet.as_view({"post": "forget"}), name="gallery-forget"),
]
