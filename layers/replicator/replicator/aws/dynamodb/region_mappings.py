"""The mapping table: one region mapping per source region ("*" for every other region). The Lambdas read it
through Powertools' cached provider; the CLI writes it (only a validated RegionMapping)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.parameters import DynamoDBProvider

from ...mapping import ALL_REGIONS, RegionMapping, parse_mapping_item
from ..sessions import dynamodb_table, pages


class MappingProvider(DynamoDBProvider):
    """Powertools' DynamoDB parameter provider returning whole mapping items; a missing item reads as {}.

    Reads are cached for `max_age` seconds, so a mapping change reaches running Lambdas within that time
    without a redeploy; missing items are cached too, so regions without a mapping cost no reads per event.
    """

    def _get(self, name: str, **sdk_options: Any) -> Any:
        item = self.table.get_item(Key={self.key_attr: name}, **sdk_options).get("Item")
        return item or {}


_providers: dict[str, MappingProvider] = {}


def _provider(table_name: str) -> MappingProvider:
    if table_name not in _providers:
        _providers[table_name] = MappingProvider(table_name=table_name, key_attr="source_region")
    return _providers[table_name]


def resolve_mapping(table_name: str, source_region: str, max_age: int) -> RegionMapping | None:
    """The mapping for `source_region`: its own item, else the "*" item, else None.

    Raises pydantic.ValidationError for an invalid item (the caller records it as a FAILED outcome).
    """
    provider = _provider(table_name)
    for key in (source_region, ALL_REGIONS):
        item = provider.get(key, max_age=max_age)
        if item:
            return parse_mapping_item(item)  # type: ignore[arg-type]
    return None


def _scan(table_name: str) -> list[dict[str, Any]]:
    return [item for page in pages(dynamodb_table(table_name).scan) for item in page["Items"]]


def mapping_items(table_name: str) -> list[dict[str, Any]]:
    """Every raw mapping item, sorted by source region ("*" first); not validated, so that invalid ones can be shown."""
    return sorted(_scan(table_name), key=lambda item: str(item.get("source_region")))


def mapping_item(table_name: str, source_region: str) -> dict[str, Any] | None:
    return dynamodb_table(table_name).get_item(Key={"source_region": source_region}, ConsistentRead=True).get("Item")


def put_mapping(table_name: str, mapping: RegionMapping) -> None:
    """Write a mapping item; only a validated RegionMapping can be written."""
    item = json.loads(json.dumps(mapping.model_dump(mode="json", exclude_none=True)), parse_float=Decimal)
    dynamodb_table(table_name).put_item(Item=item)  # numbers as Decimal: boto3 refuses floats (rpo_hours...)


def delete_mapping(table_name: str, source_region: str) -> None:
    dynamodb_table(table_name).delete_item(Key={"source_region": source_region})
