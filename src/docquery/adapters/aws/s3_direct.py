"""S3UploadBucket: presigned POSTs, and the checks and promotion of the objects they put."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from docquery.adapters.aws.outages import OUTAGES
from docquery.errors import NotFound, StorageError, StoreUnavailable
from docquery.ports.direct_uploads import ObjectInfo, PresignedPost

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

_GONE = frozenset({"NoSuchKey", "404", "NotFound", "PreconditionFailed", "412"})
# Copies larger than this go part by part, so each call stays within the store's deadline.
COPY_PART = 8 * 1024 * 1024


class S3UploadBucket:
    """The documents bucket as direct uploads use it."""

    def __init__(self, client: S3Client, *, bucket: str, kms_key_id: str | None = None) -> None:
        self._client = client
        self._bucket = bucket
        self._encryption: dict[str, Any] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
            if kms_key_id
            else {"ServerSideEncryption": "AES256"}
        )
        self._form_encryption = (
            {
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": kms_key_id,
            }
            if kms_key_id
            else {"x-amz-server-side-encryption": "AES256"}
        )

    async def presign_post(
        self, key: str, *, max_size: int, content_type: str, expires_in: int
    ) -> PresignedPost:
        fields = {"Content-Type": content_type, **self._form_encryption}
        # botocore adds the exact key and the bucket to the policy; S3 checks every condition.
        conditions: list[Any] = [
            ["content-length-range", 1, max_size],
            *({name: value} for name, value in fields.items()),
        ]
        post = await self._client.generate_presigned_post(
            Bucket=self._bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
        )
        return PresignedPost(url=post["url"], fields={k: str(v) for k, v in post["fields"].items()})

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            response = await self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _GONE:
                return None
            raise StorageError(f"S3 head failed: {_code(exc)}") from exc
        return ObjectInfo(size=response["ContentLength"], etag=response["ETag"])

    async def read(self, key: str, *, etag: str) -> AsyncIterator[bytes]:
        try:
            response = await self._client.get_object(Bucket=self._bucket, Key=key, IfMatch=etag)
        except ClientError as exc:
            raise _translate(exc, "read") from exc
        body = response["Body"]
        async with body:
            try:
                async for chunk in body.iter_chunks(256 * 1024):
                    yield chunk
            except OUTAGES as exc:
                raise StoreUnavailable("S3 read failed") from exc

    async def promote(self, source: str, target: str, *, etag: str) -> None:
        info = await self.head(source)
        if info is None or info.etag != etag:
            raise NotFound("the uploaded object changed or went")
        copy_source = {"Bucket": self._bucket, "Key": source}
        try:
            if info.size <= COPY_PART:
                await self._client.copy_object(
                    Bucket=self._bucket,
                    Key=target,
                    CopySource=copy_source,  # type: ignore[arg-type]
                    CopySourceIfMatch=etag,
                    ContentType="application/pdf",
                    MetadataDirective="REPLACE",
                    **self._encryption,
                )
                return
            await self._copy_in_parts(copy_source, target, etag=etag, size=info.size)
        except ClientError as exc:
            raise _translate(exc, "copy") from exc

    async def _copy_in_parts(
        self, copy_source: dict[str, str], target: str, *, etag: str, size: int
    ) -> None:
        created = await self._client.create_multipart_upload(
            Bucket=self._bucket, Key=target, ContentType="application/pdf", **self._encryption
        )
        upload_id = created["UploadId"]

        async def part(number: int, start: int) -> CompletedPartTypeDef:
            end = min(start + COPY_PART, size) - 1
            response = await self._client.upload_part_copy(
                Bucket=self._bucket,
                Key=target,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=copy_source,  # type: ignore[arg-type]
                CopySourceIfMatch=etag,
                CopySourceRange=f"bytes={start}-{end}",
            )
            return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

        try:
            parts = await asyncio.gather(
                *(part(n, start) for n, start in enumerate(range(0, size, COPY_PART), 1))
            )
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=target,
                UploadId=upload_id,
                MultipartUpload={"Parts": list(parts)},
            )
        except BaseException:
            await asyncio.shield(
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=target, UploadId=upload_id
                )
            )
            raise

    async def delete(self, key: str) -> None:
        try:
            await self._client.delete_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _code(exc) not in _GONE:
                raise StorageError(f"S3 delete failed: {_code(exc)}") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate(exc: ClientError, action: str) -> Exception:
    code = _code(exc)
    if code in _GONE:
        return NotFound("the uploaded object changed or went")
    return StorageError(f"S3 {action} failed: {code or 'unknown error'}")
