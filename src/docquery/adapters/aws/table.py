"""The DynamoDB table definition (CreateTable input); infra/dynamodb-table.json mirrors it."""

from __future__ import annotations

from typing import Any

from docquery.adapters.aws.dynamodb_items import CHANGES_INDEX, OWNER_CREATED_INDEX, WORK_INDEX


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable input: key `pk`, the owner listing index, the sparse work index and the
    search index's change feed."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "created_sk", "AttributeType": "S"},
            {"AttributeName": "work_state", "AttributeType": "S"},
            {"AttributeName": "work_due_at", "AttributeType": "S"},
            {"AttributeName": "feed", "AttributeType": "S"},
            {"AttributeName": "feed_at", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": OWNER_CREATED_INDEX,
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "created_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": WORK_INDEX,
                "KeySchema": [
                    {"AttributeName": "work_state", "KeyType": "HASH"},
                    {"AttributeName": "work_due_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": CHANGES_INDEX,
                "KeySchema": [
                    {"AttributeName": "feed", "KeyType": "HASH"},
                    {"AttributeName": "feed_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        "SSESpecification": {"Enabled": True},
        "DeletionProtectionEnabled": True,
    }
