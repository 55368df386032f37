"""Audio kept in a directory under the data dir; relay serves it at ``/audio/{key}``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import anyio

from relay.errors import StorageUnavailableError
from relay.liveness import process_running


def _check_key(key: str) -> str:
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise ValueError(f"invalid audio key {key!r}")
    return key


class FilesystemAudioStore:
    def __init__(self, root: Path, public_base_url: str) -> None:
        self.root = root
        self._public_base_url = public_base_url.rstrip("/")

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    async def put(self, key: str, source: Path, content_type: str) -> bool:
        target = self.path(key)
        return await anyio.to_thread.run_sync(self._put_sync, source, target)

    @staticmethod
    def _put_sync(source: Path, target: Path) -> bool:
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            try:
                os.link(source, partial)  # same filesystem as the staging dir: no copy
            except OSError:
                shutil.copyfile(source, partial)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StorageUnavailableError(f"could not write audio: {exc.strerror}") from exc
        return True

    async def exists(self, key: str) -> bool:
        return await anyio.Path(self.path(key)).exists()

    async def delete(self, key: str) -> None:
        try:
            await anyio.Path(self.path(key)).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailableError(f"could not delete audio: {exc.strerror}") from exc

    async def sweep(self) -> int:
        """Remove partial files of writes whose process died (``.<key>.<pid>.partial``)."""

        def sweep_sync() -> int:
            removed = 0
            for partial in self.root.glob(".*.partial") if self.root.is_dir() else ():
                pid = partial.name.rsplit(".", 2)[-2]
                if pid.isdigit() and not process_running(int(pid)):
                    partial.unlink(missing_ok=True)
                    removed += 1
            return removed

        return await anyio.to_thread.run_sync(sweep_sync)

    async def check(self) -> None:
        def usable() -> bool:
            self.root.mkdir(parents=True, exist_ok=True)
            return os.access(self.root, os.W_OK | os.X_OK)

        try:
            writable = await anyio.to_thread.run_sync(usable)
        except OSError as exc:
            raise StorageUnavailableError(f"audio directory unusable: {exc.strerror}") from exc
        if not writable:
            raise StorageUnavailableError("audio directory is not writable")

    def public_url(self, key: str) -> str:
        return f"{self._public_base_url}/audio/{_check_key(key)}"
