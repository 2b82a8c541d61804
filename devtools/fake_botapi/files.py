"""Files the bot uploaded: kept in memory under the ``file_id`` the server gave them, served
back under ``/file/bot<token>/<file_path>`` as Telegram does."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

from devtools.fake_botapi.protocol import BotAPIError, UploadedFile


class FileStore:
    def __init__(self) -> None:
        self.files: dict[str, UploadedFile] = {}
        self._file_ids = itertools.count(1)

    def store(self, value: Any, kind: str) -> tuple[str, str, UploadedFile | None]:
        """``(file_id, file_unique_id, upload)`` for a new upload or a known ``file_id``."""
        if isinstance(value, UploadedFile):
            file_id = f"{kind}-{next(self._file_ids)}-{secrets.token_hex(4)}"
            self.files[file_id] = value
            return file_id, f"unique-{file_id}", value
        if isinstance(value, str) and value:
            uploaded = self.files.get(value)
            return value, f"unique-{value}", uploaded
        raise BotAPIError(400, f"Bad Request: there is no {kind} in the request")

    def get(self, file_id: str) -> UploadedFile | None:
        return self.files.get(file_id)

    @staticmethod
    def path(file_id: str, uploaded: UploadedFile) -> str:
        return f"files/{file_id}/{uploaded.filename}"

    def by_path(self, path: str) -> UploadedFile | None:
        """The upload served under ``path`` (as ``getFile`` named it), if any."""
        for file_id, uploaded in self.files.items():
            if self.path(file_id, uploaded) == path:
                return uploaded
        return None
