"""The public surface: ``noex_trio.__all__`` agrees with the package (like anyio's test)."""

from __future__ import annotations

import inspect
import types

import pytest

import noex_trio
import noex_trio.testing


def test_all_is_sorted_and_unique() -> None:
    assert noex_trio.__all__ == sorted(noex_trio.__all__)
    assert len(set(noex_trio.__all__)) == len(noex_trio.__all__)


@pytest.mark.parametrize("name", noex_trio.__all__)
def test_every_name_in_all_exists(name: str) -> None:
    assert hasattr(noex_trio, name)


def test_every_public_class_and_function_is_in_all() -> None:
    missing = []
    for name, obj in vars(noex_trio).items():
        if name.startswith("_") or isinstance(obj, types.ModuleType):
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        module = getattr(obj, "__module__", "") or ""
        from_us = module == "noex_trio" or module.startswith("noex_trio.")
        if from_us and name not in noex_trio.__all__:
            missing.append(name)
    assert missing == []


@pytest.mark.parametrize("name", noex_trio.__all__)
def test_public_objects_report_the_package_as_their_module(name: str) -> None:
    obj = getattr(noex_trio, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert obj.__module__ == "noex_trio"
        assert obj.__qualname__ == name


def test_no_names_leak_from_private_modules() -> None:
    public = {name for name in vars(noex_trio) if not name.startswith("_")}
    modules = {name for name, obj in vars(noex_trio).items() if isinstance(obj, types.ModuleType)}
    assert public - modules == set(noex_trio.__all__)


def test_testing_module_all() -> None:
    assert noex_trio.testing.__all__ == sorted(noex_trio.testing.__all__)
    for name in noex_trio.testing.__all__:
        assert hasattr(noex_trio.testing, name)
