import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")

application = get_wsgi_application()

from facenition.startup import announce_configuration, import_views, warm_up_models  # noqa: E402  needs Django set up

announce_configuration()
import_views()
warm_up_models()
