"""The accuracy level as every face endpoint takes it (`/match`, `/generate`, `/gallery/identify`...)."""

from rest_framework import serializers

from .accuracy import DEFAULT_ACCURACY, MAX_ACCURACY, MIN_ACCURACY


class AccuracyField(serializers.IntegerField):
    default_error_messages = {
        "invalid": f"must be a whole number from {MIN_ACCURACY} to {MAX_ACCURACY}.",
        "max_value": f"must be a whole number from {MIN_ACCURACY} to {MAX_ACCURACY}.",
        "min_value": f"must be a whole number from {MIN_ACCURACY} to {MAX_ACCURACY}.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", DEFAULT_ACCURACY)
        kwargs.setdefault("help_text", "Tolerance level, 1 the most tolerant, 8 the strictest.")
        super().__init__(min_value=MIN_ACCURACY, max_value=MAX_ACCURACY, **kwargs)

    def to_internal_value(self, data):
        # "4.0", 4.5 and True are not accuracy levels; IntegerField would quietly accept some.
        if isinstance(data, (bool, float)) or (isinstance(data, str) and not data.strip().isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)
