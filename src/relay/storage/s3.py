"""Audio in an S3-compatible bucket (Cloudflare R2 in production) through aioboto3.

Uploads stream from the staged file in parts (multipart upload), so memory stays at one part.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from relay.errors import StorageUnavailableError

log = logging.getLogger("relay.storage")

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


def s3_client(
    *, endpoint_url: str | None, region: str, access_key_id: str | None, secret_access_key: str
) -> contextlib.AbstractAsyncContextManager[S3Client]:
    """An S3 client (enter it to open, leave it to close), retrying as the SDK's standard mode
    does."""
    client: contextlib.AbstractAsyncContextManager[S3Client] = aioboto3.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=AioConfig(retries={"max_attempts": 3, "mode": "standard"}),
    )
    return client


def _read_part(handle: Any, size: int) -> bytes:
    data: bytes = handle.read(size)
    return data


class S3AudioStore:
    def __init__(
        self, client: S3Client, *, bucket: str, public_base_url: str, part_size: int
    ) -> None:
        self._s3 = client
        self._bucket = bucket
        self._public_base_url = public_base_url.rstrip("/")
        self._part_size = part_size

    async def exists(self, key: str) -> bool:
        try:
            await self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _unavailable("storage check", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("storage request", exc) from exc
        return True

    async def put(self, key: str, source: Path, content_type: str) -> bool:
        if await self.exists(key):
            return False
        size = (await anyio.Path(source).stat()).st_size
        try:
            if size <= self._part_size:
                body = await anyio.Path(source).read_bytes()
                await self._s3.put_object(
                    Bucket=self._bucket, Key=key, Body=body, ContentType=content_type,
                    CacheControl="public, max-age=31536000, immutable",
                )  # fmt: skip
            else:
                await self._multipart(key, source, content_type)
        except ClientError as exc:
            raise _unavailable("storage upload", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("storage request", exc) from exc
        return True

    async def _multipart(self, key: str, source: Path, content_type: str) -> None:
        created = await self._s3.create_multipart_upload(
            Bucket=self._bucket, Key=key, ContentType=content_type,
            CacheControl="public, max-age=31536000, immutable",
        )  # fmt: skip
        upload_id = created["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            handle = await anyio.to_thread.run_sync(open, source, "rb")
            try:
                number = 1
                while chunk := await anyio.to_thread.run_sync(_read_part, handle, self._part_size):
                    out = await self._s3.upload_part(
                        Bucket=self._bucket, Key=key, UploadId=upload_id,
                        PartNumber=number, Body=chunk,
                    )  # fmt: skip
                    parts.append({"ETag": out["ETag"], "PartNumber": number})
                    number += 1
            finally:
                await anyio.to_thread.run_sync(handle.close)
            await self._s3.complete_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )  # fmt: skip
        except BaseException:
            with anyio.CancelScope(shield=True):
                # If this fails too, the bucket's lifecycle rule reaps the abandoned upload.
                with contextlib.suppress(ClientError, BotoCoreError):
                    await self._s3.abort_multipart_upload(
                        Bucket=self._bucket, Key=key, UploadId=upload_id
                    )
            raise

    async def delete(self, key: str) -> None:
        try:
            await self._s3.delete_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            raise _unavailable("storage delete", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("storage request", exc) from exc

    async def sweep(self) -> int:
        """Nothing to do here: incomplete multipart uploads are aborted by the bucket's lifecycle
        rule (see the README), and a put that never completed left no object."""
        return 0

    async def check(self) -> None:
        try:
            await self._s3.head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            raise _unavailable("bucket check", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("storage request", exc) from exc

    def public_url(self, key: str) -> str:
        return f"{self._public_base_url}/{key}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))


def _unavailable(action: str, exc: Exception) -> StorageUnavailableError:
    """The error for relay's callers (no S3 error code or exception class); the detail is logged."""
    detail = _code(exc) if isinstance(exc, ClientError) else f"{type(exc).__name__}: {exc}"
    log.warning("%s failed: %s", action, detail)
    return StorageUnavailableError("the audio store is unavailable; try again later")
