"""gunicorn's worker class for the API (facenition/gunicorn.conf.py names it).

It is gunicorn's threaded worker (`gthread`): the main thread waits on sockets and hands a request
to a thread only once it has data, so a client trickling its body holds one thread, not the worker
(and `facenition.api.body` bounds how long it may hold it). gunicorn answers what it refuses
itself (a malformed request line or header, an over-long URL, too many or too large headers) with
the API's JSON envelope instead of its HTML page.
"""

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

CLIENT_ERRORS = {
    400: "The request could not be parsed",
    403: "The request was refused",
    414: "The request line (method and URL) is too long",
    417: "The Expect header cannot be met",
    431: "The request headers are too many or too large",
    501: "The request uses a transfer coding the server does not support",
}


def write_json_error(sock, status_int, reason, mesg):
    """gunicorn's own refusals, in the envelope every other answer uses."""
    if status_int >= 500 and status_int != 501:
        message = "The server could not complete this request. Try again; if it keeps failing, tell the operator."
    else:
        message = CLIENT_ERRORS.get(status_int, reason)
        message = f"{message}: {mesg}" if mesg else f"{message}."
    body = json.dumps({"ok": False, "error": message}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)


class JsonThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        # gunicorn's handle_error writes through util.write_error; this process only ever serves the API.
        util.write_error = write_json_error
        super().__init__(*args, **kwargs)
