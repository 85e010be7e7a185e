"""Settings: names from the deployment plan, units, and the rules that refuse unsafe setups."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from docquery.app import create_app
from docquery.pipeline.extraction import ExtractionLimits
from docquery.settings import AuthMode, OcrEngine, Profile, Settings, is_loopback
from docquery.settings_checks import SERVING, InvalidSettings, check_serving, load_settings
from support.settings import API_KEYS, TEST_SECRET


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_are_the_embedded_profile_on_loopback() -> None:
    settings = make()
    assert settings.profile is Profile.EMBEDDED
    assert settings.auth is AuthMode.NONE
    assert settings.host == "127.0.0.1"
    assert int(settings.max_file_size) == 50_000_000
    assert settings.allowed_extensions == [".pdf"]
    assert settings.dynamodb_table == "medical-documents"
    assert settings.max_request_size == 50_000_000 + 64 * 1024


def test_deployment_variable_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCQUERY_PROFILE", "aws")
    monkeypatch.setenv("DOCQUERY_AUTH", "api_key")
    monkeypatch.setenv("DOCQUERY_API_KEYS", f"alice={API_KEYS['alice']}, bob={API_KEYS['bob']}")
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MAX_FILE_SIZE", "20MiB")
    monkeypatch.setenv("ALLOWED_EXTENSIONS", "pdf, .PDFA")
    monkeypatch.setenv("S3_BUCKET", "bucket-x")
    monkeypatch.setenv("DYNAMODB_TABLE", "table-x")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.profile is Profile.AWS
    assert settings.api_keys == API_KEYS
    assert int(settings.max_file_size) == 20 * 1024 * 1024
    assert settings.allowed_extensions == [".pdf", ".pdfa"]
    assert (settings.s3_bucket, settings.dynamodb_table) == ("bucket-x", "table-x")
    assert settings.aws_region == "eu-west-1"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth": "api_key", "api_keys": "alice=abc"}, "not a sha256 hex digest"),
        ({"auth": "api_key", "api_keys": "no-equals-sign"}, "OWNER=<sha256 hex>"),
        ({"auth": "api_key", "api_keys": {"a#b": "0" * 64}}, "must match"),
        ({"s3_part_size": "1MiB"}, "at least 5MiB"),
        ({"job_lease_seconds": 2}, "greater than or equal to 5"),
    ],
)
def test_broken_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make(**values)


@pytest.mark.parametrize(
    ("values", "variable", "message"),
    [
        (
            {"profile": "aws", "secret_key": TEST_SECRET},
            "DOCQUERY_AUTH",
            "allowed only with the embedded profile",
        ),
        ({"host": "0.0.0.0"}, "DOCQUERY_AUTH", "allowed only with the embedded profile"),  # noqa: S104
        ({"auth": "api_key"}, "DOCQUERY_API_KEYS", "needs at least one key"),
        (
            {"profile": "aws", "auth": "api_key", "api_keys": API_KEYS},
            "SECRET_KEY",
            "needs a SECRET_KEY",
        ),
        (
            {"profile": "aws", "auth": "api_key", "api_keys": API_KEYS, "secret_key": "change-me"},
            "SECRET_KEY",
            "needs a SECRET_KEY",
        ),
        ({"textract_enabled": True}, "TEXTRACT_ENABLED", "needs the aws profile"),
        ({"ocr_engine": "textract"}, "OCR_ENGINE", "needs TEXTRACT_ENABLED"),
    ],
)
def test_unsafe_settings_refuse_to_serve(
    values: dict[str, object], variable: str, message: str
) -> None:
    settings = make(**values)
    with pytest.raises(InvalidSettings) as refused:
        check_serving(settings)
    [problem] = refused.value.problems
    assert problem.variable == variable
    assert message in problem.message
    with pytest.raises(InvalidSettings):
        create_app(settings)


@pytest.mark.parametrize(
    ("values", "engine", "in_workers"),
    [
        ({}, OcrEngine.TESSERACT, True),
        ({"profile": "aws"}, OcrEngine.TESSERACT, True),
        ({"profile": "aws", "textract_enabled": True}, OcrEngine.TEXTRACT, False),
        (
            {"profile": "aws", "textract_enabled": True, "ocr_engine": "tesseract"},
            OcrEngine.TESSERACT,
            True,
        ),
        ({"ocr_engine": "off"}, OcrEngine.OFF, False),
    ],
)
def test_ocr_engine_auto_is_tesseract_unless_textract_is_enabled_on_aws(
    values: dict[str, object], engine: OcrEngine, in_workers: bool
) -> None:
    settings = make(**values)
    assert settings.effective_ocr_engine is engine
    assert settings.ocr_in_workers is in_workers
    limits = ExtractionLimits.from_settings(settings)
    assert (limits.ocr is not None) is in_workers


def test_every_serving_problem_is_reported_at_once() -> None:
    settings = make(profile="aws", textract_enabled=False, secret_key="short")
    with pytest.raises(InvalidSettings) as refused:
        check_serving(settings)
    assert [p.variable for p in refused.value.problems] == ["DOCQUERY_AUTH", "SECRET_KEY"]
    assert str(refused.value).splitlines() == [str(p) for p in refused.value.problems]


def test_invalid_fields_and_broken_rules_are_reported_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DOCQUERY_PROFILE", "aws")
    monkeypatch.setenv("DOCQUERY_PORT", "eighty")
    monkeypatch.setenv("MAX_FILE_SIZE", "lots")
    # Invalid, so the rule that reads it (textract needs aws) is not guessed at as well.
    monkeypatch.setenv("TEXTRACT_ENABLED", "perhaps")
    with pytest.raises(InvalidSettings) as refused:
        load_settings(SERVING)
    variables = [p.variable for p in refused.value.problems]
    assert sorted(variables) == sorted(
        ["DOCQUERY_PORT", "MAX_FILE_SIZE", "TEXTRACT_ENABLED", "DOCQUERY_AUTH", "SECRET_KEY"]
    )


def test_storage_commands_need_no_serving_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DOCQUERY_PROFILE": "aws",
        "AWS_REGION": "eu-west-1",
        "S3_BUCKET": "bucket-x",
        "DYNAMODB_TABLE": "table-x",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.s3_bucket, settings.dynamodb_table) == ("bucket-x", "table-x")
    assert settings.auth is AuthMode.NONE
    assert settings.secret_key is None
    with pytest.raises(InvalidSettings):
        load_settings(SERVING)


def test_aws_profile_serves_with_auth_and_a_real_secret() -> None:
    settings = make(profile="aws", auth="api_key", api_keys=API_KEYS, secret_key=TEST_SECRET)
    assert settings.profile is Profile.AWS
    check_serving(settings)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.4", False), ("example.com", False)],  # noqa: S104
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    listed = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    }
    primary = set()
    every = set()
    for field in Settings.model_fields.values():
        assert isinstance(field.validation_alias, AliasChoices)
        names = [name for name in field.validation_alias.choices if isinstance(name, str)]
        primary.add(names[0])
        every.update(names)
    assert primary <= listed, primary - listed
    assert listed <= every, listed - every
