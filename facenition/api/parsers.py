"""Request bodies. JSON is read by the same rules wherever a client sends it: as the request body,
or as the text of one field of a form (a gallery subject's `metadata`). No field of any endpoint is
nested more than a few levels; numbers are finite; text holds neither NUL nor lone surrogates, which
PostgreSQL and UTF-8 cannot store, so that such input is a 400 naming where it is rather than a
failure later on. Multipart bodies have their part headers checked (_PartHeadersChecked)."""

import json
import math
import re

from django.conf import settings
from django.http import QueryDict
from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32


class JSONRefused(ValueError):
    """JSON text that breaks a rule; `path` names where (`metadata.tags[2]`), empty for the whole text."""

    def __init__(self, reason, path=""):
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason = reason
        self.path = path


def _not_a_number(name):
    return float("nan")  # refused with its path by the walk below


def _path(parent, key):
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def _check_text(text, path, what="text"):
    if "\x00" in text:
        raise JSONRefused(f"{what} may not hold a NUL character (\\u0000).", path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JSONRefused(f"{what} may not hold a lone surrogate (such as \\ud800).", path) from None


def _refuse_number(path):
    raise JSONRefused("numbers must be finite: NaN, Infinity and values beyond 1.8e308 are refused.", path)


_SAFE = {int, bool, type(None)}


def _check(value, root):
    """Walks `value` without recursion: depth, numbers and text, keys included. A path is spelled out
    only for a container or a refusal: a body may hold millions of numbers."""
    if isinstance(value, str):
        _check_text(value, root)
    elif isinstance(value, float) and not math.isfinite(value):
        _refuse_number(root)
    stack = [(value, root, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise JSONRefused(f"nested more than {MAX_JSON_DEPTH} levels deep.", path)
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in children:
            if type(child) in _SAFE and type(key) is not str:
                continue
            if isinstance(key, str):
                _check_text(key, path, what="a key")  # the key itself cannot spell its path
            if isinstance(child, (dict, list)):
                stack.append((child, _path(path, key), depth + 1))
            elif isinstance(child, str):
                _check_text(child, _path(path, key))
            elif isinstance(child, float) and not math.isfinite(child):
                _refuse_number(_path(path, key))


def loads(text, *, root=""):
    """The JSON value of `text` (str or UTF-8 bytes); JSONRefused, naming where, when it breaks a rule.
    `root` names the whole value in messages (a form field's name)."""
    try:
        value = json.loads(text, parse_constant=_not_a_number)
    except RecursionError:
        raise JSONRefused(f"nested more than {MAX_JSON_DEPTH} levels deep.", root) from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4,300 digits
        raise JSONRefused(f"not valid JSON ({error}).", root) from None
    _check(value, root)
    return value


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(stream.read().decode(encoding))
        except UnicodeDecodeError as error:
            raise ParseError(f"not {encoding} text ({error}).") from None
        except JSONRefused as refused:
            raise ParseError(str(refused)) from None


# Django's multipart parser reads a part's headers within this many bytes (MAX_TOTAL_HEADER_SIZE).
PART_HEADERS_BYTES = 1024
FILE_NAME = re.compile(rb'filename="?([^"\r\n;]*)')
FIELD_NAME = re.compile(rb'\bname="?([^"\r\n;]*)')


class _PartHeadersChecked:
    """The body of a multipart request, read on by Django's parser, with each part's headers checked
    on the way. Django decodes a header line as UTF-8 and drops one that is not, so that a file whose
    name is in another encoding (Latin-1, from an older client) lost its Content-Disposition and was
    skipped in silence, or misread the rest of the body: such a part is refused, naming the file."""

    def __init__(self, stream, boundary):
        self.stream = stream
        self.delimiter = b"--" + boundary
        self.carried = b""

    def read(self, *args):
        data = self.stream.read(*args)
        window = self.carried + data
        start = 0
        while (found := window.find(self.delimiter, start)) != -1:
            end = window.find(b"\r\n\r\n", found)
            if end == -1:
                break
            if end - found <= len(self.delimiter) + PART_HEADERS_BYTES:  # longer: Django refuses it itself
                _check_part_headers(window[found + len(self.delimiter) : end])
            start = end
        # A delimiter and headers cut by this read are checked whole with the next one.
        self.carried = window[max(start, len(window) - len(self.delimiter) - PART_HEADERS_BYTES - 4) :]
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


def _check_part_headers(headers):
    try:
        headers.decode("utf-8")
    except UnicodeDecodeError:
        field = FIELD_NAME.search(headers)
        file = FILE_NAME.search(headers)
        where = f"{field.group(1).decode('utf-8', 'replace')}: " if field else ""
        if file:
            name = file.group(1).decode("utf-8", "backslashreplace")
            raise ParseError(
                f'{where}the file name "{name}" is not UTF-8; send file names in UTF-8, or leave them out.'
            ) from None
        raise ParseError(f"{where}a part's headers are not UTF-8 text.") from None


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _, params = parse_header_parameters(media_type or "")
        boundary = params.get("boundary", "")
        if boundary:
            stream = _PartHeadersChecked(stream, boundary.encode("ascii", "replace"))
        return super().parse(stream, media_type, parser_context)
