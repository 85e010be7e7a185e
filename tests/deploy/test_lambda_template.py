"""deploy/lambda: the SAM template passes cfn-lint and names what the code expects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from docquery import lambda_handlers
from docquery.services.presigned_uploads import upload_id_of, upload_key
from docquery.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "lambda" / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) read as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506
    return loaded


def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_handlers_and_environment_are_the_codes() -> None:
    resources = template()["Resources"]
    handlers = {
        r["Properties"]["Handler"]
        for r in resources.values()
        if "Handler" in r.get("Properties", {})
    }
    assert handlers == {"docquery.lambda_handlers.api", "docquery.lambda_handlers.process"}
    assert callable(lambda_handlers.api)
    assert callable(lambda_handlers.process)
    known = {
        alias.upper()
        for field in Settings.model_fields.values()
        for alias in getattr(field.validation_alias, "choices", [])
    }
    env = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert set(env) <= known, set(env) - known
    assert env["DOCQUERY_DATA_DIR"].startswith("/tmp/")


def test_the_notification_filter_matches_exactly_the_upload_keys() -> None:
    events = template()["Resources"]["ProcessFunction"]["Properties"]["Events"]
    rules = {
        r["Name"]: r["Value"] for r in events["Uploaded"]["Properties"]["Filter"]["S3Key"]["Rules"]
    }
    key = upload_key("0123456789abcdef0123456789abcdef")
    assert key.startswith(rules["prefix"])
    assert key.endswith(rules["suffix"])
    assert upload_id_of(key) == "0123456789abcdef0123456789abcdef"
    assert not "documents/x/original.pdf".endswith(rules["suffix"])
    assert events["Sweep"]["Type"] == "Schedule"
    assert template()["Resources"]["ProcessFunction"]["Properties"]["Timeout"] <= 900
