import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")

django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402

from facenition.api.body import BodyDeadline  # noqa: E402
from facenition.startup import announce_configuration, import_views, warm_up_models  # noqa: E402  needs Django set up

application = BodyDeadline(
    django_application, settings.FACENITION_BODY_READ_SECONDS, settings.FACENITION_MAX_REQUEST_BYTES
)

announce_configuration()
import_views()
warm_up_models()
