"""Settings checked as a whole, per command: every problem at once, each with its variable."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic_core import ErrorDetails

from docquery.settings import AuthMode, OcrEngine, Profile, Settings, is_loopback

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "placeholder"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings: the variable to change, and why."""

    variable: str
    message: str
    # The other variables the rule reads: it is reported only when all of them are valid.
    reads: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}"


class InvalidSettings(Exception):
    """The settings cannot be used for this command; `problems` holds every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(map(str, self.problems)))


Check = Callable[[Settings], Iterable[Problem]]


def _api_keys_given(settings: Settings) -> Iterator[Problem]:
    if settings.auth is AuthMode.API_KEY and not settings.api_keys:
        message = "DOCQUERY_AUTH=api_key needs at least one key (docquery keygen OWNER)"
        yield Problem("DOCQUERY_API_KEYS", message, ("DOCQUERY_AUTH",))


def _auth_on_loopback_only(settings: Settings) -> Iterator[Problem]:
    if settings.auth is AuthMode.NONE and not (
        settings.profile is Profile.EMBEDDED and is_loopback(settings.host)
    ):
        message = "none is allowed only with the embedded profile on a loopback host; use api_key"
        yield Problem("DOCQUERY_AUTH", message, ("DOCQUERY_PROFILE", "DOCQUERY_HOST"))


def _secret_key_on_aws(settings: Settings) -> Iterator[Problem]:
    if settings.profile is not Profile.AWS:
        return
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < 32:
        message = "the aws profile needs a SECRET_KEY of at least 32 random characters"
        yield Problem("SECRET_KEY", message, ("DOCQUERY_PROFILE",))


def _textract_on_aws(settings: Settings) -> Iterator[Problem]:
    if settings.textract_enabled and settings.profile is not Profile.AWS:
        message = "needs the aws profile (Textract reads the PDF from S3)"
        yield Problem("TEXTRACT_ENABLED", message, ("DOCQUERY_PROFILE",))


def _ocr_engine_textract(settings: Settings) -> Iterator[Problem]:
    if settings.ocr_engine is OcrEngine.TEXTRACT and not settings.textract_enabled:
        message = "textract needs TEXTRACT_ENABLED=true (and the aws profile)"
        yield Problem("OCR_ENGINE", message, ("TEXTRACT_ENABLED",))


# What serving needs beyond valid fields: callers, cursors' key, and the pipeline's OCR.
SERVING: tuple[Check, ...] = (
    _api_keys_given,
    _auth_on_loopback_only,
    _secret_key_on_aws,
    _textract_on_aws,
    _ocr_engine_textract,
)
# Rebuilding the index walks every configured owner: with API keys, their owners.
REINDEX: tuple[Check, ...] = (_api_keys_given,)


def check(settings: Settings, checks: Sequence[Check]) -> None:
    """Raise InvalidSettings with every problem the checks find."""
    if problems := _run(checks, settings):
        raise InvalidSettings(problems)


def check_serving(settings: Settings) -> None:
    """Raise InvalidSettings unless these settings are safe to serve requests with."""
    check(settings, SERVING)


def load_settings(checks: Sequence[Check] = (), **overrides: Any) -> Settings:
    """Settings from the environment and `.env`, checked; every problem is reported at once."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        invalid = [_field_problem(error) for error in exc.errors()]
        raise InvalidSettings(invalid + _rules_on_the_rest(checks, invalid, overrides)) from exc
    check(settings, checks)
    return settings


def _rules_on_the_rest(
    checks: Sequence[Check], invalid: list[Problem], overrides: dict[str, Any]
) -> list[Problem]:
    """The rules' problems among the valid settings (invalid ones stand in at their defaults)."""
    bad = {problem.variable for problem in invalid}
    defaults = {
        field: info.get_default(call_default_factory=True)
        for field, info in Settings.model_fields.items()
        if _variable(field) in bad
    }
    try:
        stand_in = Settings(**(overrides | defaults))
    except ValidationError:
        return []
    return [p for p in _run(checks, stand_in) if not {p.variable, *p.reads} & bad]


def _run(checks: Sequence[Check], settings: Settings) -> list[Problem]:
    return [problem for rule in checks for problem in rule(settings)]


def _field_problem(error: ErrorDetails) -> Problem:
    first = error["loc"][0] if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    return Problem(_variable(str(first)), message)


def _variable(name: str) -> str:
    """The environment variable of a field (its first name), given the field or any alias."""
    for field, info in Settings.model_fields.items():
        if not isinstance(info.validation_alias, AliasChoices):
            continue
        names = [alias for alias in info.validation_alias.choices if isinstance(alias, str)]
        if name in (field, *names):
            return names[0]
    return name
