"""infra/README.md is a runbook: its bash blocks, run as written against a moto server, take an
empty account to a running service and through a rolling update.

The blocks run in one `bash` with `set -euo pipefail`, in a git checkout whose origin has one
more commit (the release that `git pull` fetches), with the venv's AWS CLI pointed at moto by
`AWS_ENDPOINT_URL`. `docker` is a stand-in on PATH that records its arguments and does nothing.
The account is an assumed role in 210987654321 and the region us-west-2, so a placeholder of the
infra files (123456789012, us-east-1) left unrendered shows up. moto starts no containers: its own
MOTO_ECS_SERVICE_RUNNING setting reports the service's tasks as running, so that `aws ecs wait
services-stable` returns as it does once real tasks pass their health checks.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3
import boto3
import pytest

from docquery.adapters.aws.provision import ensure_bucket, ensure_table

pytestmark = [pytest.mark.aws, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = REPO_ROOT / "infra" / "README.md"
ACCOUNT = "210987654321"
REGION = "us-west-2"
TABLE = "medical-documents"
PLACEHOLDERS = ("123456789012", "us-east-1", "AbCdEf", "GhIjKl", "0000-0000", ":0.1.0")
FENCE = re.compile(r"^```bash\n(.*?)^```$", re.DOTALL | re.MULTILINE)
DOCKER_SHIM = """#!/bin/sh
printf '%s\\n' "$*" >> "$DOCKER_LOG"
if [ "$1" = login ]; then cat > /dev/null; fi
"""
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "runbook",
    "GIT_AUTHOR_EMAIL": "runbook@example.com",
    "GIT_COMMITTER_NAME": "runbook",
    "GIT_COMMITTER_EMAIL": "runbook@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def bash_blocks(markdown: str) -> list[str]:
    """The ```bash fenced blocks of a Markdown text, in order."""
    return [match.group(1) for match in FENCE.finditer(markdown)]


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    credentials: dict[str, str]
    first_commit: str
    release_commit: str
    docker_calls: list[str]
    output: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION, **self.credentials
        )


def _git(cwd: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), **GIT_IDENTITY}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _checkout_with_a_pending_release(root: Path) -> tuple[Path, str, str]:
    """A checkout of the infra files whose origin holds one commit more than it has."""
    origin, checkout, other = root / "origin.git", root / "checkout", root / "other"
    _git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    _git(root, "clone", "--quiet", str(origin), str(checkout))
    shutil.copytree(REPO_ROOT / "infra", checkout / "infra", ignore=shutil.ignore_patterns("*.md"))
    _git(checkout, "add", "infra")
    _git(checkout, "commit", "--quiet", "-m", "first deployment")
    _git(checkout, "push", "--quiet", "origin", "HEAD:main")
    _git(checkout, "branch", "--quiet", "--set-upstream-to=origin/main")
    _git(root, "clone", "--quiet", str(origin), str(other))
    (other / "RELEASE").write_text("next\n")
    _git(other, "add", "RELEASE")
    _git(other, "commit", "--quiet", "-m", "release")
    _git(other, "push", "--quiet", "origin", "HEAD:main")
    return checkout, _git(checkout, "rev-parse", "HEAD"), _git(other, "rev-parse", "HEAD")


def _assume_account(endpoint: str) -> dict[str, str]:
    """Credentials of a role in ACCOUNT: moto serves each account from its own state."""
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    issued = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ops", RoleSessionName="ops")
    return {
        "aws_access_key_id": issued["Credentials"]["AccessKeyId"],
        "aws_secret_access_key": issued["Credentials"]["SecretAccessKey"],
        "aws_session_token": issued["Credentials"]["SessionToken"],
    }


def _network(endpoint: str, credentials: dict[str, str]) -> dict[str, str]:
    """What the runbook asks you to bring: a VPC, subnets in two zones, a certificate."""
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=REGION, **credentials)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]

    def subnet(cidr: str, zone: str) -> str:
        made = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{zone}")
        return str(made["Subnet"]["SubnetId"])

    acm = boto3.client("acm", endpoint_url=endpoint, region_name=REGION, **credentials)
    certificate = acm.request_certificate(DomainName="docquery.example.com")["CertificateArn"]
    return {
        "VPC_ID": vpc,
        "TASK_SUBNET_1": subnet("10.42.1.0/24", "a"),
        "TASK_SUBNET_2": subnet("10.42.2.0/24", "b"),
        "LB_SUBNET_1": subnet("10.42.101.0/24", "a"),
        "LB_SUBNET_2": subnet("10.42.102.0/24", "b"),
        "CERTIFICATE_ARN": certificate,
    }


def _environment(
    root: Path, endpoint: str, credentials: dict[str, str], network: dict[str, str]
) -> dict[str, str]:
    aws = Path(sys.executable).parent / "aws"
    assert aws.is_file(), "the AWS CLI (awscli, a dev dependency) is not installed in the venv"
    shims = root / "bin"
    shims.mkdir()
    (shims / "docker").write_text(DOCKER_SHIM)
    (shims / "docker").chmod(0o755)
    return {
        "PATH": f"{shims}:{aws.parent}:/usr/bin:/bin",
        "HOME": str(root),
        "TMPDIR": str(root),
        "DOCKER_LOG": str(root / "docker.log"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": credentials["aws_session_token"],
        "AWS_CONFIG_FILE": str(root / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "REGION": REGION,
        **network,
        **GIT_IDENTITY,
    }


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def deployment(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """Run every bash block of infra/README.md, once for the module's tests."""
    _reset(moto_endpoint)
    root = tmp_path_factory.mktemp("runbook")
    checkout, first, release = _checkout_with_a_pending_release(root)
    credentials = _assume_account(moto_endpoint)
    env = _environment(root, moto_endpoint, credentials, _network(moto_endpoint, credentials))
    script = "set -euo pipefail\n" + "\n".join(bash_blocks(RUNBOOK.read_text(encoding="utf-8")))
    with pytest.MonkeyPatch.context() as mp:
        # Read by the moto server (this process) when the service is created.
        mp.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    assert done.returncode == 0, f"runbook failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    calls = (root / "docker.log").read_text().splitlines()
    return Deployment(moto_endpoint, credentials, first, release, calls, done.stdout)


def test_bash_blocks_are_the_fenced_bash_blocks_only() -> None:
    text = "a\n```bash\necho 1\n```\n```sh\necho 2\n```\n```bash\necho 3\nx\n```\n"
    assert bash_blocks(text) == ["echo 1\n", "echo 3\nx\n"]


def test_the_runbook_has_its_steps() -> None:
    script = "\n".join(bash_blocks(RUNBOOK.read_text(encoding="utf-8")))
    for command in (
        "aws ecr create-repository",
        "aws secretsmanager create-secret",
        "aws iam create-role",
        "aws logs create-log-group",
        "aws dynamodb update-time-to-live",
        "aws ecs create-cluster",
        "aws ecs create-service",
        "aws ecs update-service",
    ):
        assert command in script, command


def _commands(markdown: str, prefix: str) -> list[str]:
    """The commands starting with prefix in the bash blocks, continuation lines joined."""
    lines = "\n".join(bash_blocks(markdown)).replace("\\\n", " ").splitlines()
    return [" ".join(line.split()) for line in lines if line.strip().startswith(prefix)]


def test_readme_releases_with_the_runbook_command() -> None:
    runbook = _commands(RUNBOOK.read_text(encoding="utf-8"), "aws ecs update-service")
    readme = _commands((REPO_ROOT / "README.md").read_text(encoding="utf-8"), "aws ecs")
    assert runbook == [
        "aws ecs update-service --cluster docquery --service docquery "
        '--task-definition "$TASK_DEFINITION_ARN"'
    ]
    assert [c for c in readme if c.startswith("aws ecs update-service")] == runbook


def test_the_service_runs_the_release(deployment: Deployment) -> None:
    ecs = deployment.client("ecs")
    [service] = ecs.describe_services(cluster="docquery", services=["docquery"])["services"]
    assert service["status"] == "ACTIVE"
    assert service["runningCount"] == service["desiredCount"] == 2
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    current = definition["taskDefinition"]
    assert (current["family"], current["revision"]) == ("docquery", 2)
    [container] = current["containerDefinitions"]
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/docquery"
    assert container["image"] == f"{registry}:{deployment.release_commit[:12]}"
    first = ecs.describe_task_definition(taskDefinition="docquery:1")["taskDefinition"]
    assert first["containerDefinitions"][0]["image"] == f"{registry}:{deployment.first_commit[:12]}"


def test_the_task_definition_has_no_placeholder_left(deployment: Deployment) -> None:
    ecs = deployment.client("ecs")
    current = ecs.describe_task_definition(taskDefinition="docquery")["taskDefinition"]
    text = json.dumps(current)
    for placeholder in PLACEHOLDERS:
        assert placeholder not in text, placeholder
    secrets = deployment.client("secretsmanager")
    [container] = current["containerDefinitions"]
    for item in container["secrets"]:
        # The real ARN, with the suffix Secrets Manager chose.
        assert secrets.describe_secret(SecretId=item["valueFrom"])["ARN"] == item["valueFrom"]
    env = {item["name"]: item["value"] for item in container["environment"]}
    assert env["S3_BUCKET"] == f"docquery-documents-{ACCOUNT}-{REGION}"
    kms = deployment.client("kms")
    assert (
        env["S3_KMS_KEY_ID"]
        == kms.describe_key(KeyId="alias/docquery-documents")["KeyMetadata"]["Arn"]
    )


def test_the_service_sits_in_the_task_subnets_behind_an_ip_target_group(
    deployment: Deployment,
) -> None:
    ecs, elbv2 = deployment.client("ecs"), deployment.client("elbv2")
    [service] = ecs.describe_services(cluster="docquery", services=["docquery"])["services"]
    [target_group] = elbv2.describe_target_groups(Names=["docquery"])["TargetGroups"]
    assert target_group["TargetType"] == "ip"
    assert (target_group["Port"], target_group["HealthCheckPath"]) == (8000, "/readyz")
    assert service["loadBalancers"][0]["targetGroupArn"] == target_group["TargetGroupArn"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=target_group["LoadBalancerArns"][0])[
        "Listeners"
    ]
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    vpc = service["networkConfiguration"]["awsvpcConfiguration"]
    subnets = deployment.client("ec2").describe_subnets(SubnetIds=vpc["subnets"])["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.42.1.0/24", "10.42.2.0/24"]
    assert vpc["assignPublicIp"] == "DISABLED"
    [group] = deployment.client("ec2").describe_security_groups(GroupIds=vpc["securityGroups"])[
        "SecurityGroups"
    ]
    assert group["GroupName"] == "docquery-tasks"
    [rule] = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (8000, 8000)
    [lb_group] = deployment.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["docquery-lb"]}]
    )["SecurityGroups"]
    assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [lb_group["GroupId"]]
    assert rule["IpRanges"] == []  # reachable from the load balancer's group only


def test_the_roles_trust_ecs_tasks_and_hold_the_rendered_policies(deployment: Deployment) -> None:
    iam = deployment.client("iam")
    for role in ("docquery-task", "docquery-execution"):
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        [statement] = trust["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        policy = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
        text = json.dumps(policy)
        assert f":{ACCOUNT}:" in text
        for placeholder in PLACEHOLDERS:
            assert placeholder not in text, (role, placeholder)


def test_the_secrets_hold_the_printed_api_key_digest(deployment: Deployment) -> None:
    [key] = re.findall(r"^API key for ops .*: (dq_[0-9a-f]{64})$", deployment.output, re.MULTILINE)
    secrets = deployment.client("secretsmanager")
    entries = secrets.get_secret_value(SecretId="docquery/api-keys")["SecretString"]
    assert entries == f"ops={hashlib.sha256(key.encode()).hexdigest()}"
    secret_key = secrets.get_secret_value(SecretId="docquery/secret-key")["SecretString"]
    assert len(secret_key) == 64  # 48 random bytes in base64, no newline


def test_the_log_group_exists_with_a_retention(deployment: Deployment) -> None:
    logs = deployment.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/ecs/docquery")["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [
        ("/ecs/docquery", 90)
    ]


def test_docker_built_and_pushed_both_images(deployment: Deployment) -> None:
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    images = [
        f"{registry}/docquery:{c[:12]}"
        for c in (deployment.first_commit, deployment.release_commit)
    ]
    login = f"login --username AWS --password-stdin {registry}"
    assert deployment.docker_calls == [
        login,
        f"build --platform linux/amd64 -t {images[0]} .",
        f"push {images[0]}",
        login,
        f"build --platform linux/amd64 -t {images[1]} .",
        f"push {images[1]}",
    ]
    ecr = deployment.client("ecr")
    [repository] = ecr.describe_repositories(repositoryNames=["docquery"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"


async def test_bucket_and_table_are_what_docquery_init_makes(deployment: Deployment) -> None:
    s3, dynamodb = deployment.client("s3"), deployment.client("dynamodb")
    kms_key = deployment.client("kms").describe_key(KeyId="alias/docquery-documents")
    session = aioboto3.Session(region_name=REGION, **deployment.credentials)
    async with (
        session.client("s3", endpoint_url=deployment.endpoint) as aio_s3,
        session.client("dynamodb", endpoint_url=deployment.endpoint) as aio_dynamodb,
    ):
        await ensure_bucket(
            aio_s3, bucket="made-by-init", region=REGION, kms_key_id=kms_key["KeyMetadata"]["Arn"]
        )
        await ensure_table(aio_dynamodb, table=f"{TABLE}-init")

    def bucket_state(bucket: str) -> list[Any]:
        return [
            s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"],
            s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
            s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
            s3.get_bucket_location(Bucket=bucket)["LocationConstraint"],
        ]

    def table_state(table: str) -> list[Any]:
        described = dynamodb.describe_table(TableName=table)["Table"]
        indexes = {
            index["IndexName"]: (index["KeySchema"], index["Projection"])
            for index in described["GlobalSecondaryIndexes"]
        }
        return [
            described["KeySchema"],
            sorted(described["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
            indexes,
            described["BillingModeSummary"]["BillingMode"],
            described.get("SSEDescription", {}).get("Status"),
            described.get("DeletionProtectionEnabled"),
            dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"],
        ]

    bucket = f"docquery-documents-{ACCOUNT}-{REGION}"
    assert bucket_state(bucket) == bucket_state("made-by-init")
    assert table_state(TABLE) == table_state(f"{TABLE}-init")
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    rule = bucket_state(bucket)[0]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
