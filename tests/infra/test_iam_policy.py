"""IAM policies of the task role and the execution role: well-formed, least privilege, and naming
exactly the resources the task definition configures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")  # service:Action, no wildcard anywhere
ARN = re.compile(r"^arn:aws:[a-z0-9-]+:[a-z0-9-*]*:(\d{12})?:\S+$")

# What the application calls, as IAM actions. A grant outside this set is excess privilege;
# a call missing from the policy fails at runtime with AccessDenied.
S3_OBJECT_ACTIONS = {
    "s3:PutObject",  # PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload
    "s3:GetObject",  # GetObject, HeadObject, presigned GET URLs
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
}
S3_BUCKET_ACTIONS = {"s3:ListBucket"}  # HeadBucket (readiness); 404 instead of 403 for misses
DYNAMODB_ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",  # search checks its hits' documents still exist
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",  # TransactWriteItems is authorised per contained action
    "dynamodb:Query",
    "dynamodb:DescribeTable",  # readiness
}
KMS_ACTIONS = {"kms:GenerateDataKey", "kms:Decrypt"}
# Converse is authorised as InvokeModel, ConverseStream as InvokeModelWithResponseStream.
BEDROCK_ACTIONS = {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
# OCR of scanned PDFs (TEXTRACT_ENABLED). Textract reads the object with the caller's
# permissions: s3:GetObject on documents/* (and the KMS key through S3) covers it.
# Document analysis (LAYOUT and TABLES): the text detection actions are not used any more.
TEXTRACT_ACTIONS = {"textract:StartDocumentAnalysis", "textract:GetDocumentAnalysis"}
APP_ACTIONS = (
    S3_OBJECT_ACTIONS
    | S3_BUCKET_ACTIONS
    | DYNAMODB_ITEM_ACTIONS
    | KMS_ACTIONS
    | BEDROCK_ACTIONS
    | TEXTRACT_ACTIONS
)
FORBIDDEN_ACTIONS = {
    "dynamodb:Scan",
    "dynamodb:CreateTable",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allow_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if s["Effect"] == "Allow"]


def granted(policy: dict[str, Any]) -> dict[str, set[str]]:
    """Action -> resources it is allowed on."""
    grants: dict[str, set[str]] = {}
    for statement in allow_statements(policy):
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).update(as_list(statement["Resource"]))
    return grants


def statement_errors(statement: dict[str, Any]) -> list[str]:
    sid = statement.get("Sid")
    errors = []
    if set(statement) - STATEMENT_KEYS:
        errors.append(f"{sid}: unknown keys {sorted(set(statement) - STATEMENT_KEYS)}")
    if not re.fullmatch(r"[A-Za-z0-9]+", str(sid)):
        errors.append(f"{sid}: Sid must be alphanumeric")
    if statement.get("Effect") not in {"Allow", "Deny"}:
        errors.append(f"{sid}: Effect must be Allow or Deny")
    if "Action" not in statement or "Resource" not in statement:
        return [*errors, f"{sid}: needs Action and Resource (no NotAction/NotResource)"]
    for key in ("Action", "Resource"):
        value = statement[key]
        if not (isinstance(value, str) or (isinstance(value, list) and value)):
            errors.append(f"{sid}: {key} must be a string or a non-empty list")
    condition = statement.get("Condition", {})
    if not all(
        isinstance(values, dict) and all(isinstance(v, str | list) for v in values.values())
        for values in condition.values()
    ):
        errors.append(f"{sid}: Condition must map operators to {{key: value(s)}}")
    return errors


def structure_errors(policy: dict[str, Any]) -> list[str]:
    errors = []
    unknown = set(policy) - {"Version", "Id", "Statement"}
    if unknown:
        errors.append(f"unknown top-level keys {sorted(unknown)}")
    if policy.get("Version") != "2012-10-17":
        errors.append("Version must be 2012-10-17")
    statements = policy.get("Statement")
    if not isinstance(statements, list) or not statements:
        return [*errors, "Statement must be a non-empty list"]
    sids = [s.get("Sid") for s in statements]
    if None in sids or len(set(sids)) != len(sids):
        errors.append("every statement needs a unique Sid")
    for statement in statements:
        errors.extend(statement_errors(statement))
    return errors


@pytest.fixture
def bucket(container_env: dict[str, str]) -> str:
    return container_env["S3_BUCKET"]


@pytest.fixture
def table_arn(container_env: dict[str, str], task_definition: dict[str, Any]) -> str:
    account = task_definition["taskRoleArn"].split(":")[4]
    region = container_env["AWS_REGION"]
    return f"arn:aws:dynamodb:{region}:{account}:table/{container_env['DYNAMODB_TABLE']}"


# --- structure -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["task_policy", "execution_policy"])
def test_policy_is_well_formed(name: str, request: pytest.FixtureRequest) -> None:
    policy = request.getfixturevalue(name)
    assert structure_errors(policy) == []
    for statement in policy["Statement"]:
        for resource in as_list(statement["Resource"]):
            assert resource == "*" or ARN.match(resource), resource


def test_structure_check_rejects_malformed_policies() -> None:
    # Guards test_policy_is_well_formed: each of these must be reported.
    assert structure_errors({"Version": "2008-10-17", "Statement": []})
    assert structure_errors(
        {"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "x"}]}
    )
    assert structure_errors(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "A", "Effect": "Permit", "Action": "s3:GetObject", "Resource": "*"},
            ],
        }
    )


@pytest.mark.aws
@pytest.mark.parametrize("name", ["task_policy", "execution_policy"])
def test_iam_accepts_the_policy(name: str, request: pytest.FixtureRequest, moto: str) -> None:
    # moto runs IAM's policy grammar checks (vendors, ARN formats, conditions) on CreatePolicy.
    iam = boto3.client(
        "iam",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    document = json.dumps(request.getfixturevalue(name))
    created = iam.create_policy(PolicyName=f"docquery-{name}", PolicyDocument=document)
    assert created["Policy"]["Arn"].endswith(f":policy/docquery-{name}")
    with pytest.raises(ClientError, match="MalformedPolicyDocument"):
        iam.create_policy(
            PolicyName="broken",
            PolicyDocument=document.replace('"Effect": "Allow"', '"Effect": "Permit"', 1),
        )


# --- least privilege: task role ------------------------------------------------------------------


def test_task_policy_actions_are_exact_and_without_wildcards(task_policy: dict[str, Any]) -> None:
    actions = set(granted(task_policy))
    for action in actions:
        assert ACTION.match(action), f"wildcard or malformed action: {action}"
    assert not actions & FORBIDDEN_ACTIONS
    assert actions <= APP_ACTIONS, f"not used by the app: {sorted(actions - APP_ACTIONS)}"
    assert actions >= APP_ACTIONS, f"missing: {sorted(APP_ACTIONS - actions)}"


def test_task_policy_grants_all_resources_only_for_textract(task_policy: dict[str, Any]) -> None:
    # The one allowed exception: Textract's StartDocumentAnalysis and
    # GetDocumentAnalysis have no resource types in the Service Authorization Reference
    # ("Actions, resources, and condition keys for Amazon Textract"), so "*" is the only
    # resource they accept. Jobs have no ARN; the document is read under s3:GetObject.
    everything = [s for s in task_policy["Statement"] if "*" in as_list(s["Resource"])]
    assert [set(as_list(s["Action"])) for s in everything] == [TEXTRACT_ACTIONS]
    [textract] = everything
    assert as_list(textract["Resource"]) == ["*"]
    for statement in task_policy["Statement"]:
        for resource in as_list(statement["Resource"]):
            assert not resource.endswith(":*"), statement["Sid"]
    # ...and Textract is granted nowhere else.
    textract_grants = {a for a in granted(task_policy) if a.startswith("textract:")}
    assert textract_grants == TEXTRACT_ACTIONS


def test_s3_objects_are_scoped_to_the_documents_prefix(
    task_policy: dict[str, Any], bucket: str
) -> None:
    grants = granted(task_policy)
    for action in S3_OBJECT_ACTIONS:
        assert grants[action] == {f"arn:aws:s3:::{bucket}/documents/*"}, action
    assert grants["s3:ListBucket"] == {f"arn:aws:s3:::{bucket}"}
    s3_resources = {r for a, rs in grants.items() if a.startswith("s3:") for r in rs}
    assert all(r.startswith(f"arn:aws:s3:::{bucket}") for r in s3_resources)


def test_dynamodb_is_scoped_to_the_table_and_its_indexes(
    task_policy: dict[str, Any], table_arn: str
) -> None:
    grants = granted(task_policy)
    for action in DYNAMODB_ITEM_ACTIONS - {"dynamodb:Query"}:
        assert grants[action] == {table_arn}, action
    # Query on the base table and on the GSIs (owner-created-index, work-index).
    assert grants["dynamodb:Query"] == {table_arn, f"{table_arn}/index/*"}


def test_kms_is_the_bucket_key_and_only_through_s3(
    task_policy: dict[str, Any], container_env: dict[str, str]
) -> None:
    key_arn = container_env["S3_KMS_KEY_ID"]
    region = container_env["AWS_REGION"]
    statements = [
        s for s in allow_statements(task_policy) if set(as_list(s["Action"])) & KMS_ACTIONS
    ]
    assert statements
    for statement in statements:
        assert as_list(statement["Resource"]) == [key_arn]
        via = statement["Condition"]["StringEquals"]["kms:ViaService"]
        assert via == f"s3.{region}.amazonaws.com"


def test_bedrock_is_the_configured_inference_profile(
    task_policy: dict[str, Any], container_env: dict[str, str], task_definition: dict[str, Any]
) -> None:
    profile_id = container_env["BEDROCK_MODEL_ID"]
    region = container_env["AWS_REGION"]
    account = task_definition["taskRoleArn"].split(":")[4]
    geography, _, model_id = profile_id.partition(".")
    assert geography in {"us", "eu", "apac", "jp", "global"}, profile_id
    profile_arn = f"arn:aws:bedrock:{region}:{account}:inference-profile/{profile_id}"
    model_arn = f"arn:aws:bedrock:{geography}-*::foundation-model/{model_id}"

    statements = [
        s for s in allow_statements(task_policy) if set(as_list(s["Action"])) & BEDROCK_ACTIONS
    ]
    assert all(set(as_list(s["Action"])) == BEDROCK_ACTIONS for s in statements)
    resources = {r for s in statements for r in as_list(s["Resource"])}
    assert resources == {profile_arn, model_arn}
    # The profile itself, unconditionally; the foundation model in the profile's regions, only
    # when called through the profile (never directly, never through another profile).
    [profile_statement] = [s for s in statements if profile_arn in as_list(s["Resource"])]
    assert as_list(profile_statement["Resource"]) == [profile_arn]
    [model_statement] = [s for s in statements if model_arn in as_list(s["Resource"])]
    assert as_list(model_statement["Resource"]) == [model_arn]
    assert model_statement["Condition"] == {
        "StringEquals": {"bedrock:InferenceProfileArn": profile_arn}
    }


# --- least privilege: execution role -------------------------------------------------------------


def test_execution_policy_reads_only_the_task_secrets(
    execution_policy: dict[str, Any], container: dict[str, Any]
) -> None:
    grants = granted(execution_policy)
    # valueFrom may select a JSON key (ARN:key::); the grant is on the secret itself.
    secret_arns = {":".join(s["valueFrom"].split(":")[:7]) for s in container["secrets"]}
    assert grants["secretsmanager:GetSecretValue"] == secret_arns


def test_execution_policy_pulls_the_image_and_writes_the_logs(
    execution_policy: dict[str, Any], container: dict[str, Any]
) -> None:
    grants = granted(execution_policy)
    registry, repository = container["image"].rsplit(":", 1)[0].split("/", 1)
    account, _, _, region = registry.split(".")[:4]
    repository_arn = f"arn:aws:ecr:{region}:{account}:repository/{repository}"
    for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer"):
        assert grants[action] == {repository_arn}
    assert grants["ecr:BatchGetImage"] == {repository_arn}
    # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
    assert grants["ecr:GetAuthorizationToken"] == {"*"}

    group = container["logConfiguration"]["options"]["awslogs-group"]
    log_streams = {f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:*"}
    assert grants["logs:CreateLogStream"] == log_streams
    assert grants["logs:PutLogEvents"] == log_streams
    assert "logs:CreateLogGroup" not in grants  # infra/README.md creates it, with a retention


def test_execution_policy_has_no_wildcards_beyond_the_ecr_token(
    execution_policy: dict[str, Any],
) -> None:
    for action, resources in granted(execution_policy).items():
        assert ACTION.match(action), action
        if action != "ecr:GetAuthorizationToken":
            assert "*" not in resources, action


# --- trust policy of both roles ------------------------------------------------------------------


@pytest.fixture
def trust_policy(repo_root: Path) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(
        (repo_root / "infra" / "iam-trust-ecs-tasks.json").read_text()
    )
    return policy


def test_both_roles_are_assumable_by_ecs_tasks_only(trust_policy: dict[str, Any]) -> None:
    assert trust_policy["Version"] == "2012-10-17"
    [statement] = trust_policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert "Resource" not in statement  # a trust policy names no resource


@pytest.mark.aws
def test_iam_accepts_the_trust_policy(trust_policy: dict[str, Any], moto: str) -> None:
    iam = boto3.client(
        "iam",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    document = json.dumps(trust_policy)
    iam.create_role(RoleName="docquery-task", AssumeRolePolicyDocument=document)
    # moto checks a trust policy's grammar when it is updated.
    iam.update_assume_role_policy(RoleName="docquery-task", PolicyDocument=document)
    role = iam.get_role(RoleName="docquery-task")["Role"]
    assert role["AssumeRolePolicyDocument"] == trust_policy
    broken = {**trust_policy, "Statement": [{**trust_policy["Statement"][0], "Resource": "*"}]}
    with pytest.raises(ClientError, match="MalformedPolicyDocument"):
        iam.update_assume_role_policy(RoleName="docquery-task", PolicyDocument=json.dumps(broken))
