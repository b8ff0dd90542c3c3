"""Uploads stay in memory: a face photo is never written to a temporary file."""

from django.core.files.uploadhandler import MemoryFileUploadHandler


class InMemoryOnlyUploadHandler(MemoryFileUploadHandler):
    """Django's memory handler steps aside for a request over FILE_UPLOAD_MAX_MEMORY_SIZE and lets the
    next handler write each file to disk, where a killed worker leaves it behind. This one keeps every
    file in memory; RequestSizeLimitMiddleware has already refused a body over
    FACENITION_MAX_REQUEST_BYTES by its Content-Length, which bounds what it holds."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True
