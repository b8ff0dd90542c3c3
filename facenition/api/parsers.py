"""JSON bodies, read with a bound on nesting: no field of any endpoint is nested more than a few levels."""

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32


def _depth_exceeds(value, limit):
    """Whether `value` nests deeper than `limit` levels, walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.") from None
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.")
        return data


class FormParser(parsers.FormParser):
    """URL-encoded forms, which is also what `curl -d` sends when no Content-Type is given: a JSON
    body sent that way would be read as one meaningless field and the endpoint would answer that its
    fields are missing, so it is refused with the fix instead."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        body = stream.read() if stream is not None else b""
        if body.lstrip()[:1] in (b"{", b"["):
            raise ParseError(
                "The body is JSON but was sent as a form (application/x-www-form-urlencoded, what curl -d "
                "sends by default): send it with the header Content-Type: application/json."
            )
        return QueryDict(body, encoding=encoding)
