"""Local DynamoDB tables, created from template.yaml's own table definitions.

The template is the one place the key schemas and indexes are written down; the
local stack and the tests read them from there instead of keeping a second copy
that could drift from what AWS deploys.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from campaigns.config import Settings, TableNames

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"

# What a local create_table needs; billing, encryption and backups are AWS matters.
_LOCAL_PROPERTIES = (
    "KeySchema",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
)


class TemplateError(ValueError):
    """template.yaml does not describe its tables the way the local stack expects."""


class _CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that reads CloudFormation short tags (!Ref, !Sub, !GetAtt,
    !If, ...) into their long form without evaluating them."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(template_path: str | Path | None = None) -> dict[str, Any]:
    """template.yaml as plain data, intrinsic functions left as `{"Ref": ...}` etc."""
    return copy.deepcopy(_load_template(str(Path(template_path or TEMPLATE_PATH).resolve())))


@lru_cache(maxsize=4)
def _load_template(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        # A SafeLoader subclass: builds plain data only.
        template = yaml.load(handle, Loader=_CloudFormationLoader)
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources")
    return template


def table_definitions(template_path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every DynamoDB table of the template, keyed by the environment variable that
    names it (`CAMPAIGNS_TABLE: !Ref CampaignsTable` in the functions' Globals),
    as `create_table` keyword arguments without `TableName`."""
    template = load_template(template_path)
    tables = {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    }
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    env_by_table = {
        value["Ref"]: name
        for name, value in variables.items()
        if isinstance(value, dict) and value.get("Ref") in tables
    }
    unnamed = sorted(set(tables) - set(env_by_table))
    if unnamed:
        raise TemplateError(f"no Globals environment variable names these tables: {', '.join(unnamed)}")
    return {
        env_by_table[logical_id]: {key: properties[key] for key in _LOCAL_PROPERTIES if key in properties}
        for logical_id, properties in tables.items()
    }


def table_name_for(env_var: str, tables: TableNames) -> str:
    """The configured name of the table an environment variable names:
    CONTACT_LISTS_TABLE is `tables.contact_lists`, and so on."""
    field = env_var.removesuffix("_TABLE").lower()
    if not env_var.endswith("_TABLE") or not hasattr(tables, field):
        raise TemplateError(f"{env_var} does not match a field of campaigns.config.TableNames")
    return getattr(tables, field)


def ensure_tables(client: Any, settings: Settings | None = None) -> list[str]:
    """Create every table of the template that does not exist yet (named as the
    settings say), wait until all are ACTIVE, and return the names created.

    Existing tables are left exactly as they are, data included.
    """
    if settings is None:
        from campaigns.config import settings as current_settings

        settings = current_settings()
    created: list[str] = []
    names: list[str] = []
    for env_var, definition in table_definitions().items():
        name = table_name_for(env_var, settings.tables)
        names.append(name)
        if _exists(client, name):
            continue
        try:
            client.create_table(TableName=name, **definition)
        except client.exceptions.ResourceInUseException:
            continue  # created meanwhile by another process: theirs, not ours
        created.append(name)
    waiter = client.get_waiter("table_exists")
    for name in names:
        waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return created


def _exists(client: Any, name: str) -> bool:
    try:
        client.describe_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True
