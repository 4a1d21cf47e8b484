"""Load a CloudFormation/SAM YAML template, short intrinsic tags included, into plain dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["load_template", "loads_template"]

# Short tag -> long form key. Everything else is "Fn::<Tag>".
_SPECIAL_KEYS = {"Ref": "Ref", "Condition": "Condition"}


class CfnYamlLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref X` into {"Ref": "X"}, `!GetAtt A.B` into {"Fn::GetAtt": ["A", "B"]}, ..."""


def _construct_intrinsic(loader: CfnYamlLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _SPECIAL_KEYS.get(tag_suffix, f"Fn::{tag_suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if key == "Fn::GetAtt":
            value = value.split(".", 1)
        elif key == "Fn::GetAZs" and value is None:
            value = ""
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(
            None, None, f"unsupported node for !{tag_suffix}", node.start_mark
        )
    return {key: value}


CfnYamlLoader.add_multi_constructor("!", _construct_intrinsic)
# CloudFormation keeps unquoted dates (e.g. AWSTemplateFormatVersion: 2010-09-09) as strings.
CfnYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def loads_template(text: str) -> dict[str, Any]:
    """Parse template text. Returns plain dicts, lists and scalars."""
    data = yaml.load(text, Loader=CfnYamlLoader)
    if not isinstance(data, dict):
        raise ValueError("a template must be a YAML mapping")
    return data


def load_template(path: str | Path = "template.yaml") -> dict[str, Any]:
    """Read and parse a template file."""
    return loads_template(Path(path).read_text(encoding="utf-8"))
