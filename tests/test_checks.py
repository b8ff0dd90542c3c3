from django.core.checks import run_checks


def ids(settings_overrides, settings):
    for name, value in settings_overrides.items():
        setattr(settings, name, value)
    return {message.id for message in run_checks()}


def test_missing_secret_key_stops_start_up(settings):
    assert "facenition.E001" in ids({"SECRET_KEY": settings.MISSING_SECRET}, settings)


def test_short_token_key_stops_start_up(settings):
    assert "facenition.E003" in ids({"FACENITION_TOKEN_KEY": "short"}, settings)


def test_missing_weights_stop_start_up(settings, tmp_path):
    assert "facenition.E010" in ids({"DEEPFACE_HOME": str(tmp_path)}, settings)


def test_a_configured_server_passes(settings):
    assert not {i for i in ids({}, settings) if i.startswith("facenition.E")}
