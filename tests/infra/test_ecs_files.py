"""The ECS task definition and service: valid API inputs, consistent with the app, deployable.

Static checks validate the JSON against botocore's own input shapes; the deployment test
registers and deploys both files on a moto server, then rolls out a new revision the way
infra/README.md does (`aws ecs update-service ... --task-definition <the new revision's ARN>`);
tests/infra/test_runbook.py runs that runbook itself.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

from docquery.settings import LanguageModelChoice, Settings
from docquery.settings_checks import check_serving

ACCOUNT_ID = "123456789012"
CONTAINER_PORT = 8000
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a container must listen on all its interfaces
FARGATE_MAX_STOP_TIMEOUT = 120
MIB = 1024 * 1024
# What the server process (uvicorn, the AWS clients, uploads in flight) is allowed beside the
# extraction workers.
SERVER_PROCESS_MIB = 768
SECRETS_MANAGER_ARN = re.compile(
    rf"^arn:aws:secretsmanager:[a-z0-9-]+:{ACCOUNT_ID}:secret:[A-Za-z0-9/_+=.@-]+$"
)
ECR_IMAGE = re.compile(
    rf"^{ACCOUNT_ID}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/docquery:[A-Za-z0-9_.-]+$"
)


def _validation_errors(params: dict[str, Any], operation: str) -> str:
    model = botocore.session.get_session().get_service_model("ecs")
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    return report.generate_report()


# --- static: API shape -------------------------------------------------------------------------


def test_task_definition_is_a_valid_register_task_definition_input(
    task_definition: dict[str, Any],
) -> None:
    assert _validation_errors(task_definition, "RegisterTaskDefinition") == ""


def test_service_is_a_valid_create_service_input(service_definition: dict[str, Any]) -> None:
    assert _validation_errors(service_definition, "CreateService") == ""


def test_validator_rejects_a_broken_task_definition(task_definition: dict[str, Any]) -> None:
    # Guards the two tests above: an unknown key and a wrongly typed value must be reported.
    broken = copy.deepcopy(task_definition)
    broken["containerDefinitions"][0]["stopTimeout"] = "30"
    broken["containerDefinitions"][0]["healthcheck"] = {}
    report = _validation_errors(broken, "RegisterTaskDefinition")
    assert "stopTimeout" in report
    assert "healthcheck" in report


# --- static: Fargate task shape ----------------------------------------------------------------


def test_task_is_a_fargate_awsvpc_task(task_definition: dict[str, Any]) -> None:
    assert task_definition["family"] == "docquery"
    assert task_definition["networkMode"] == "awsvpc"
    assert task_definition["requiresCompatibilities"] == ["FARGATE"]
    assert task_definition["runtimePlatform"] == {
        "cpuArchitecture": "X86_64",
        "operatingSystemFamily": "LINUX",
    }
    # One of Fargate's valid cpu/memory pairs for 1 vCPU (2-8 GiB in 1 GiB steps).
    assert task_definition["cpu"] == "1024"
    assert int(task_definition["memory"]) in range(2048, 8193, 1024)


def test_task_roles_are_separate_roles_in_the_account(task_definition: dict[str, Any]) -> None:
    role = re.compile(rf"^arn:aws:iam::{ACCOUNT_ID}:role/[A-Za-z0-9+=,.@_-]+$")
    assert role.match(task_definition["taskRoleArn"])
    assert role.match(task_definition["executionRoleArn"])
    assert task_definition["taskRoleArn"] != task_definition["executionRoleArn"]


def test_container_image_and_port(container: dict[str, Any], container_env: dict[str, str]) -> None:
    assert ECR_IMAGE.match(container["image"]), container["image"]
    assert container["essential"] is True
    assert [(p["containerPort"], p["protocol"]) for p in container["portMappings"]] == [
        (CONTAINER_PORT, "tcp")
    ]
    assert container_env["DOCQUERY_PORT"] == str(CONTAINER_PORT)
    assert container_env["DOCQUERY_HOST"] == ALL_INTERFACES


def test_container_runs_as_the_image_user_on_a_read_only_root(
    task_definition: dict[str, Any], container: dict[str, Any], container_env: dict[str, str]
) -> None:
    assert container["user"] == "10001"
    assert container["readonlyRootFilesystem"] is True
    # Fargate has no tmpfs: the writable paths are bind mounts of task volumes.
    volumes = {v["name"] for v in task_definition["volumes"]}
    writable = {
        m["containerPath"]
        for m in container["mountPoints"]
        if m["sourceVolume"] in volumes and not m.get("readOnly", False)
    }
    assert "/tmp" in writable
    data_dir = container_env["DOCQUERY_DATA_DIR"]
    assert any(data_dir == path or data_dir.startswith(path + "/") for path in writable)


def test_environment_names_are_app_settings(
    container_env: dict[str, str], app_settings: frozenset[str]
) -> None:
    unknown = set(container_env) - app_settings
    assert not unknown, f"not settings of the app: {sorted(unknown)}"
    assert container_env["DOCQUERY_PROFILE"] == "aws"
    assert container_env["DOCQUERY_AUTH"] == "api_key"
    assert "AWS_ENDPOINT_URL" not in container_env  # emulator only


def _settings_of(container_env: dict[str, str]) -> Settings:
    # The secrets arrive from Secrets Manager at run time; stand-ins make the aws profile valid.
    values: dict[str, Any] = {
        **container_env,
        "SECRET_KEY": "x" * 48,
        "DOCQUERY_API_KEYS": f"ops={'0' * 64}",
    }
    settings = Settings(_env_file=None, **values)
    check_serving(settings)  # the task serves: the rules across settings hold too
    return settings


def test_environment_values_are_valid_settings(container_env: dict[str, str]) -> None:
    settings = _settings_of(container_env)
    assert settings.pipeline_enabled is True
    assert settings.pipeline_concurrency == 2
    assert settings.extract_workers == 1
    assert settings.job_lease_seconds == 60
    assert settings.textract_enabled is False  # a deliberate opt-in: Textract is billed per page
    assert settings.effective_language_model is LanguageModelChoice.BEDROCK
    assert settings.bedrock_model_id == "us.anthropic.claude-sonnet-4-6"


def test_extraction_workers_fit_the_task_memory(
    task_definition: dict[str, Any], container_env: dict[str, str]
) -> None:
    # Each worker process may map up to EXTRACT_MEMORY_LIMIT (RLIMIT_AS, 1 GiB by default);
    # the server process beside them needs its own share.
    settings = _settings_of(container_env)
    workers_mib = settings.extract_workers * int(settings.extract_memory_limit) // MIB
    assert workers_mib + SERVER_PROCESS_MIB <= int(task_definition["memory"])


def test_secrets_come_only_from_secrets_manager(
    container: dict[str, Any], container_env: dict[str, str], secret_settings: frozenset[str]
) -> None:
    secrets = {item["name"]: item["valueFrom"] for item in container["secrets"]}
    assert set(secrets) == secret_settings
    assert not secret_settings & set(container_env)
    for name, arn in secrets.items():
        assert SECRETS_MANAGER_ARN.match(arn), f"{name}: {arn}"


def test_stop_timeout_outlasts_graceful_shutdown(
    container: dict[str, Any], container_env: dict[str, str]
) -> None:
    graceful = int(container_env["DOCQUERY_SHUTDOWN_TIMEOUT"])
    assert graceful < container["stopTimeout"] <= FARGATE_MAX_STOP_TIMEOUT


def test_health_check_uses_the_cli(container: dict[str, Any]) -> None:
    check = container["healthCheck"]
    assert check["command"] == ["CMD", "docquery", "healthcheck"]
    # ECS bounds: interval 5-300, timeout 2-60, retries 1-10, startPeriod 0-300.
    assert 2 <= check["timeout"] < check["interval"] <= 300
    assert 1 <= check["retries"] <= 10
    assert 0 <= check["startPeriod"] <= 300


def test_logs_go_to_cloudwatch(container: dict[str, Any], container_env: dict[str, str]) -> None:
    logs = container["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    options = logs["options"]
    assert options["awslogs-group"].startswith("/ecs/")
    assert options["awslogs-region"] == container_env["AWS_REGION"]
    assert options["awslogs-stream-prefix"]
    # infra/README.md creates the group with a retention; the execution role cannot create one.
    assert "awslogs-create-group" not in options


def test_open_files_limit(container: dict[str, Any]) -> None:
    limits = {u["name"]: u for u in container["ulimits"]}
    assert limits["nofile"]["softLimit"] >= 4096
    assert limits["nofile"]["softLimit"] <= limits["nofile"]["hardLimit"] <= 1048576


# --- static: service ---------------------------------------------------------------------------


def test_service_runs_the_task_privately_behind_the_load_balancer(
    service_definition: dict[str, Any], task_definition: dict[str, Any], container: dict[str, Any]
) -> None:
    assert service_definition["serviceName"] == "docquery"
    assert service_definition["taskDefinition"] == task_definition["family"]
    assert service_definition["desiredCount"] >= 2
    assert service_definition["launchType"] == "FARGATE"
    vpc = service_definition["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc["assignPublicIp"] == "DISABLED"
    assert len(vpc["subnets"]) >= 2
    assert vpc["securityGroups"]
    [target] = service_definition["loadBalancers"]
    assert target["containerName"] == container["name"]
    assert target["containerPort"] == CONTAINER_PORT
    assert target["targetGroupArn"].startswith(
        f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT_ID}:targetgroup/"
    )
    assert (
        service_definition["healthCheckGracePeriodSeconds"]
        >= container["healthCheck"]["startPeriod"]
    )


def test_service_deploys_safely(service_definition: dict[str, Any]) -> None:
    deployment = service_definition["deploymentConfiguration"]
    assert deployment["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    # Rolling update that never drops below the desired count.
    assert deployment["minimumHealthyPercent"] == 100
    assert deployment["maximumPercent"] > 100
    assert service_definition["enableECSManagedTags"] is True
    assert service_definition["propagateTags"] in {"SERVICE", "TASK_DEFINITION"}


# --- deployment on moto ------------------------------------------------------------------------


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _moto_network(endpoint: str) -> tuple[list[str], list[str]]:
    ec2 = _client("ec2", endpoint)
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.42.1.0/24", "us-east-1a"), ("10.42.2.0/24", "us-east-1b"))
    ]
    group = ec2.create_security_group(
        GroupName="docquery-tasks", Description="docquery tasks", VpcId=vpc_id
    )["GroupId"]
    return subnets, [group]


def _with_moto_network(service: dict[str, Any], endpoint: str) -> dict[str, Any]:
    # moto (unlike the file's placeholders) requires the subnets and security groups to exist
    # and generates their ids, so the placeholder ids are swapped for moto-created ones. Every
    # other field is sent as written; moto stores loadBalancers without checking the target
    # group, and accepts but does not store deploymentConfiguration, healthCheckGracePeriodSeconds
    # and enableECSManagedTags (they are covered by the botocore validation above).
    params = copy.deepcopy(service)
    vpc = params["networkConfiguration"]["awsvpcConfiguration"]
    assert len(vpc["subnets"]) == 2
    vpc["subnets"], vpc["securityGroups"] = _moto_network(endpoint)
    return params


def _revision(arn: str) -> int:
    return int(arn.rsplit(":", 1)[1])


@pytest.mark.aws
def test_deploy_and_roll_out_a_new_revision(
    moto: str,
    task_definition: dict[str, Any],
    service_definition: dict[str, Any],
    container: dict[str, Any],
) -> None:
    ecs = _client("ecs", moto)
    cluster = service_definition["cluster"]
    ecs.create_cluster(clusterName=cluster)

    first = ecs.register_task_definition(**task_definition)["taskDefinition"]
    assert (first["family"], first["revision"]) == ("docquery", 1)

    created = ecs.create_service(**_with_moto_network(service_definition, moto))
    service = created["service"]
    assert service["serviceName"] == "docquery"
    assert service["taskDefinition"] == first["taskDefinitionArn"]
    assert service["launchType"] == "FARGATE"
    assert service["loadBalancers"] == service_definition["loadBalancers"]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert len(service["deployments"]) == 1

    # CI builds a new image, registers it as a new revision of the family...
    release = copy.deepcopy(task_definition)
    new_image = container["image"].rsplit(":", 1)[0] + ":0.1.1"
    release["containerDefinitions"][0]["image"] = new_image
    second = ecs.register_task_definition(**release)["taskDefinition"]
    assert second["revision"] == 2

    # ...then points the service at that revision (infra/README.md, step 10):
    # aws ecs update-service --cluster docquery --service docquery \
    #     --task-definition "$TASK_DEFINITION_ARN"
    ecs.update_service(
        cluster=cluster, service="docquery", taskDefinition=second["taskDefinitionArn"]
    )

    [after] = ecs.describe_services(cluster=cluster, services=["docquery"])["services"]
    assert after["taskDefinition"] == second["taskDefinitionArn"]
    current = ecs.describe_task_definition(taskDefinition=after["taskDefinition"])
    current_definition = current["taskDefinition"]
    assert _revision(current_definition["taskDefinitionArn"]) == 2
    assert current_definition["containerDefinitions"][0]["image"] == new_image


@pytest.mark.aws
def test_registered_definition_round_trips(
    moto: str, task_definition: dict[str, Any], container: dict[str, Any]
) -> None:
    ecs = _client("ecs", moto)
    registered = ecs.register_task_definition(**task_definition)["taskDefinition"]
    described = ecs.describe_task_definition(taskDefinition=registered["taskDefinitionArn"])[
        "taskDefinition"
    ]
    for key in (
        "networkMode",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "runtimePlatform",
        "taskRoleArn",
        "executionRoleArn",
        "volumes",
    ):
        assert described[key] == task_definition[key], key

    [stored] = described["containerDefinitions"]
    for key, value in container.items():
        if key in {"environment", "secrets", "ulimits"}:
            continue  # compared below, order-insensitively
        assert stored[key] == value, key

    def by_name(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {item["name"]: item for item in items}

    assert by_name(stored["environment"]) == by_name(container["environment"])
    assert by_name(stored["secrets"]) == by_name(container["secrets"])
    assert by_name(stored["ulimits"]) == by_name(container["ulimits"])
