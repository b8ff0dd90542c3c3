from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from facenition.api import errors
from facenition.views import HealthView, ReadyView, demo_page, metrics, reference_page

admin.site.site_header = "Facenition server administration"
admin.site.site_title = "Facenition server"
admin.site.index_title = "Clients, tokens, enrollments and galleries"

api = [
    path("", include("credentials.urls")),
    path("", include("enrollment.urls")),
    path("", include("matching.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", reference_page, name="reference"),
    path("demo", demo_page, name="demo"),
    path("health", HealthView.as_view(), name="health"),
    path("ready", ReadyView.as_view(), name="ready"),
    path("openapi.json", SpectacularJSONAPIView.as_view(versioning_class=None), name="openapi"),
    path("metrics", metrics, name="metrics"),
    path("docs", SpectacularSwaggerView.as_view(versioning_class=None, url_name="openapi"), name="docs"),
    re_path(r"^v(?P<version>[0-9]+)/", include(api)),
    path("", include(api)),
]

handler400 = errors.bad_request_view
handler403 = errors.permission_denied_view
handler404 = errors.not_found_view
handler500 = errors.server_error_view
