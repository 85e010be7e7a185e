"""infra/dynamodb-table.json is the table `docquery init` creates, and a valid CreateTable input."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
from botocore.validate import ParamValidator

from docquery.adapters.aws.table import table_definition

TABLE_FILE = Path(__file__).resolve().parents[2] / "infra" / "dynamodb-table.json"


def test_table_file_matches_what_init_creates() -> None:
    assert json.loads(TABLE_FILE.read_text()) == table_definition("medical-documents")


def test_table_file_is_a_valid_create_table_request() -> None:
    model = botocore.session.get_session().get_service_model("dynamodb")
    shape = model.operation_model("CreateTable").input_shape
    report = ParamValidator().validate(json.loads(TABLE_FILE.read_text()), shape)
    assert not report.has_errors(), report.generate_report()


def test_every_index_key_is_a_declared_attribute() -> None:
    table = json.loads(TABLE_FILE.read_text())
    declared = {a["AttributeName"] for a in table["AttributeDefinitions"]}
    keys = {k["AttributeName"] for k in table["KeySchema"]} | {
        k["AttributeName"] for index in table["GlobalSecondaryIndexes"] for k in index["KeySchema"]
    }
    assert keys == declared
