"""The recipes and GPU checks moved into subpackages; the names users import from mxemu.torch keep working."""

from __future__ import annotations

import importlib

import needs
import pytest

needs.module("torch", 'python -m pip install -e ".[torch]"')

RECIPES = ("dmx", "micromix", "schedule", "tetrajet")


@pytest.mark.parametrize("name", RECIPES)
def test_the_former_recipe_module_name_is_the_recipes_module_itself(name: str):
    import mxemu.torch

    moved = importlib.import_module(f"mxemu.torch.recipes.{name}")
    assert importlib.import_module(f"mxemu.torch.{name}") is moved
    assert getattr(mxemu.torch, name) is moved


def test_every_name_mxemu_torch_exports_resolves_to_its_defining_object():
    import mxemu.torch

    for name in mxemu.torch.__all__:
        obj = getattr(mxemu.torch, name)
        home = importlib.import_module(obj.__module__)
        assert getattr(home, name) is obj, name


def test_from_import_of_a_private_helper_through_the_former_name_works():
    from mxemu.torch.tetrajet import ramping_periods as former

    from mxemu.torch.recipes.tetrajet import ramping_periods

    assert former is ramping_periods
