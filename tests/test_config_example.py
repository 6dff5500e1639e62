"""config.example.toml documents every setting, and what it says is valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel

from memory_server.config import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
SECRET_ONLY_FROM_ENV = {"passphrase"}


def documented_keys(text: str) -> set[str]:
    """Every `name =` line, commented out or not, as section.name."""
    keys, section = set(), ""
    for line in text.splitlines():
        if header := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = header.group(1) + "."
        elif key := re.match(r"^#?\s*(\w+)\s*=", line):
            keys.add(section + key.group(1))
    return keys


def setting_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        if name in SECRET_ONLY_FROM_ENV:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= setting_keys(annotation, prefix + name + ".")
        else:
            keys.add(prefix + name)
    return keys


def test_every_setting_is_documented_in_the_example() -> None:
    missing = setting_keys(Settings) - documented_keys(EXAMPLE.read_text())
    assert missing == set()


def test_the_example_documents_no_setting_that_does_not_exist() -> None:
    unknown = documented_keys(EXAMPLE.read_text()) - setting_keys(Settings)
    assert unknown == set()


def test_the_example_is_a_valid_configuration_of_defaults() -> None:
    values = tomllib.loads(EXAMPLE.read_text())
    assert Settings.model_validate({**values, "user": "alice"}) == Settings(user="alice")
