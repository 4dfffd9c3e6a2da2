"""The public API of prefrl.lm resolves lazily, and the `prefrl` command does not need transformers to start."""

from __future__ import annotations

import subprocess
import sys

import pytest

import prefrl.lm


@pytest.mark.parametrize("name", prefrl.lm.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(prefrl.lm, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        prefrl.lm.nothing  # noqa: B018


def test_building_the_cli_does_not_import_transformers() -> None:
    code = "import sys, prefrl.cli; prefrl.cli.build_parser(); print('transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
