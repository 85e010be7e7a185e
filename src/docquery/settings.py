"""Settings: one pydantic-settings model, read from the environment and `.env`."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, ByteSize, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

OWNER_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class Profile(StrEnum):
    EMBEDDED = "embedded"
    AWS = "aws"


class LanguageModelChoice(StrEnum):
    AUTO = "auto"  # bedrock on the aws profile, local on the embedded one
    LOCAL = "local"
    BEDROCK = "bedrock"
    DISABLED = "disabled"


class OcrEngine(StrEnum):
    AUTO = "auto"
    TESSERACT = "tesseract"
    TEXTRACT = "textract"
    OFF = "off"


class AuthMode(StrEnum):
    NONE = "none"
    API_KEY = "api_key"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return _csv_items(value)
    return value


def _csv_items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


class Settings(BaseSettings):
    """Every setting of the service; names match the deployment plan's variables.

    Each field is validated here; the rules across fields that only serving needs (auth, the
    SECRET_KEY) are in settings_checks.py, so `init` works without them.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    profile: Profile = Field(Profile.EMBEDDED, validation_alias=_env("DOCQUERY_PROFILE"))
    data_dir: Path = Field(Path(".docquery"), validation_alias=_env("DOCQUERY_DATA_DIR"))
    host: str = Field("127.0.0.1", validation_alias=_env("DOCQUERY_HOST"))
    port: int = Field(8000, ge=1, le=65535, validation_alias=_env("DOCQUERY_PORT"))
    shutdown_timeout: int = Field(20, ge=1, validation_alias=_env("DOCQUERY_SHUTDOWN_TIMEOUT"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))

    auth: AuthMode = Field(AuthMode.NONE, validation_alias=_env("DOCQUERY_AUTH"))
    api_keys: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("DOCQUERY_API_KEYS")
    )
    secret_key: SecretStr | None = Field(None, validation_alias=_env("SECRET_KEY"))
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("CORS_ORIGINS")
    )

    max_file_size: ByteSize = Field(ByteSize(50_000_000), validation_alias=_env("MAX_FILE_SIZE"))
    allowed_extensions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [".pdf"], validation_alias=_env("ALLOWED_EXTENSIONS")
    )
    # Request bodies (api/body_limits.py). Every body but an upload's is capped; a body may keep
    # the server waiting BODY_TIMEOUT_SECONDS in all (an upload one more second per UPLOAD_MIN_RATE
    # bytes it has sent); so many bodies (uploads apart) may be arriving at once.
    max_json_body_size: ByteSize = Field(
        ByteSize(256 * 1024), ge=1024, validation_alias=_env("MAX_JSON_BODY_SIZE")
    )
    body_timeout_seconds: float = Field(
        10.0, gt=0, le=600, validation_alias=_env("BODY_TIMEOUT_SECONDS")
    )
    upload_min_rate: ByteSize = Field(
        ByteSize(16 * 1024), ge=1, validation_alias=_env("UPLOAD_MIN_RATE")
    )
    max_body_readers: int = Field(64, ge=1, le=4096, validation_alias=_env("MAX_BODY_READERS"))
    max_upload_readers: int = Field(16, ge=1, le=1024, validation_alias=_env("MAX_UPLOAD_READERS"))

    aws_region: str = Field("us-east-1", validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION"))
    aws_endpoint_url: str | None = Field(None, validation_alias=_env("AWS_ENDPOINT_URL"))
    s3_bucket: str = Field("docquery-documents", validation_alias=_env("S3_BUCKET"))
    s3_kms_key_id: str | None = Field(None, validation_alias=_env("S3_KMS_KEY_ID"))
    s3_part_size: ByteSize = Field(ByteSize(8 * 1024 * 1024), validation_alias=_env("S3_PART_SIZE"))
    s3_upload_concurrency: int = Field(
        2, ge=1, le=16, validation_alias=_env("S3_UPLOAD_CONCURRENCY")
    )
    presigned_url_ttl: int = Field(300, ge=1, le=3600, validation_alias=_env("PRESIGNED_URL_TTL"))
    dynamodb_table: str = Field("medical-documents", validation_alias=_env("DYNAMODB_TABLE"))
    aws_max_attempts: int = Field(5, ge=1, le=10, validation_alias=_env("AWS_MAX_ATTEMPTS"))

    # Processing pipeline.
    pipeline_enabled: bool = Field(True, validation_alias=_env("PIPELINE_ENABLED"))
    pipeline_concurrency: int = Field(2, ge=1, le=64, validation_alias=_env("PIPELINE_CONCURRENCY"))
    job_lease_seconds: int = Field(60, ge=5, le=3600, validation_alias=_env("JOB_LEASE_SECONDS"))
    job_max_attempts: int = Field(3, ge=1, le=20, validation_alias=_env("JOB_MAX_ATTEMPTS"))
    sweep_interval_seconds: float = Field(
        15.0, gt=0, le=3600, validation_alias=_env("SWEEP_INTERVAL_SECONDS")
    )
    extract_workers: int = Field(1, ge=1, le=32, validation_alias=_env("EXTRACT_WORKERS"))
    extract_timeout_seconds: float = Field(
        120.0, gt=0, le=3600, validation_alias=_env("EXTRACT_TIMEOUT_SECONDS")
    )
    extract_memory_limit: ByteSize = Field(
        ByteSize(1024**3), validation_alias=_env("EXTRACT_MEMORY_LIMIT")
    )
    max_pages: int = Field(2000, ge=1, validation_alias=_env("MAX_PAGES"))
    max_extracted_chars: int = Field(
        5_000_000, ge=1000, validation_alias=_env("MAX_EXTRACTED_CHARS")
    )
    textract_enabled: bool = Field(False, validation_alias=_env("TEXTRACT_ENABLED"))
    # Pages without a usable text layer: read by Tesseract in the workers, by Textract, or not.
    ocr_engine: OcrEngine = Field(OcrEngine.AUTO, validation_alias=_env("OCR_ENGINE"))
    ocr_dpi: int = Field(200, ge=72, le=600, validation_alias=_env("OCR_DPI"))
    ocr_max_pixels: int = Field(
        25_000_000, ge=1_000_000, le=200_000_000, validation_alias=_env("OCR_MAX_PIXELS")
    )
    ocr_page_timeout_seconds: float = Field(
        60.0, gt=0, le=600, validation_alias=_env("OCR_PAGE_TIMEOUT_SECONDS")
    )
    # Each OCR page done adds this to EXTRACT_TIMEOUT_SECONDS, up to EXTRACT_MAX_TIMEOUT_SECONDS.
    ocr_page_allowance_seconds: float = Field(
        5.0, ge=0, le=600, validation_alias=_env("OCR_PAGE_ALLOWANCE_SECONDS")
    )
    extract_max_timeout_seconds: float = Field(
        1800.0, gt=0, le=86400, validation_alias=_env("EXTRACT_MAX_TIMEOUT_SECONDS")
    )
    # aws profile: how often a task reads the other tasks' search index changes.
    search_poll_seconds: float = Field(
        1.0, gt=0, le=60, validation_alias=_env("SEARCH_POLL_SECONDS")
    )

    # Summaries.
    language_model: LanguageModelChoice = Field(
        LanguageModelChoice.AUTO, validation_alias=_env("DOCQUERY_LANGUAGE_MODEL")
    )
    bedrock_model_id: str = Field(
        "us.anthropic.claude-sonnet-4-6", validation_alias=_env("BEDROCK_MODEL_ID")
    )
    bedrock_endpoint_url: str | None = Field(
        None, validation_alias=_env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
    )
    bedrock_timeout_seconds: float = Field(
        120.0, gt=0, le=900, validation_alias=_env("BEDROCK_TIMEOUT_SECONDS")
    )
    bedrock_concurrency: int = Field(2, ge=1, le=64, validation_alias=_env("BEDROCK_CONCURRENCY"))
    bedrock_max_input_tokens: int = Field(
        40_000, ge=1000, validation_alias=_env("BEDROCK_MAX_INPUT_TOKENS")
    )
    bedrock_max_output_tokens: int = Field(
        2_000, ge=100, le=32_000, validation_alias=_env("BEDROCK_MAX_OUTPUT_TOKENS")
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        keys: dict[str, str] = {}
        for entry in _csv_items(value):
            owner, sep, digest = entry.partition("=")
            if not sep or not owner.strip():
                raise ValueError("DOCQUERY_API_KEYS entries must be OWNER=<sha256 hex>")
            keys[owner.strip()] = digest.strip()
        return keys

    @field_validator("api_keys")
    @classmethod
    def _check_digests(cls, value: dict[str, str]) -> dict[str, str]:
        for owner, digest in value.items():
            if not OWNER_PATTERN.fullmatch(owner):
                raise ValueError(f"owner {owner!r} must match {OWNER_PATTERN.pattern}")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise ValueError(f"API key digest for owner {owner!r} is not a sha256 hex digest")
        return {owner: digest.lower() for owner, digest in value.items()}

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_extensions", mode="before")
    @classmethod
    def _parse_extensions(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_extensions")
    @classmethod
    def _normalise_extensions(cls, value: list[str]) -> list[str]:
        return [ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in value]

    @field_validator("s3_part_size")
    @classmethod
    def _check_part_size(cls, value: ByteSize) -> ByteSize:
        if value < 5 * 1024 * 1024:
            raise ValueError("S3_PART_SIZE must be at least 5MiB (S3's minimum part size)")
        return value

    @property
    def http_drain_seconds(self) -> int:
        """Of the shutdown budget, what in-flight requests get; the rest hands pipeline work
        back (PIPELINE_STOP_SECONDS) and stops the extraction workers (a few seconds)."""
        return max(1, self.shutdown_timeout - PIPELINE_STOP_SECONDS - EXTRACTOR_STOP_SECONDS)

    @property
    def effective_language_model(self) -> LanguageModelChoice:
        if self.language_model is not LanguageModelChoice.AUTO:
            return self.language_model
        if self.profile is Profile.AWS:
            return LanguageModelChoice.BEDROCK
        return LanguageModelChoice.LOCAL

    @property
    def effective_ocr_engine(self) -> OcrEngine:
        """auto: Textract on aws when TEXTRACT_ENABLED, Tesseract otherwise."""
        if self.ocr_engine is not OcrEngine.AUTO:
            return self.ocr_engine
        if self.profile is Profile.AWS and self.textract_enabled:
            return OcrEngine.TEXTRACT
        return OcrEngine.TESSERACT

    @property
    def ocr_in_workers(self) -> bool:
        """Whether the extraction workers OCR pages themselves (Tesseract)."""
        return self.effective_ocr_engine is OcrEngine.TESSERACT

    @property
    def max_request_size(self) -> int:
        """The largest multipart body accepted: the file limit plus room for the form fields."""
        return int(self.max_file_size) + FORM_OVERHEAD


# Shutdown budget, within DOCQUERY_SHUTDOWN_TIMEOUT: handing leases back, then stopping the
# extraction workers (killed if they do not stop).
PIPELINE_STOP_SECONDS = 4
EXTRACTOR_STOP_SECONDS = 4

# Room in a multipart body for part headers, boundaries and the small text fields.
FORM_OVERHEAD = 64 * 1024


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
