"""The one Definitions object: every asset, check, job, schedule, sensor and resource.

Each module in ``assets/`` is one asset group. Besides its assets and checks, a module may export
``JOBS``, ``SCHEDULES`` and ``SENSORS`` lists; they are collected here, so adding a group never
means editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

import assets
from pipelines.resources import CatalogResource, StorageResource


def asset_modules() -> list[ModuleType]:
    """Every module of the ``assets`` package, in name order."""
    names = sorted(m.name for m in pkgutil.iter_modules(assets.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"assets.{name}") for name in names]


def _collect(modules: list[ModuleType], attribute: str) -> list:
    return [item for module in modules for item in getattr(module, attribute, [])]


def resources(modules: list[ModuleType]) -> dict:
    """Resources keyed by the names assets ask for; extended by modules exporting ``RESOURCES``."""
    extra: dict = {}
    for module in modules:
        extra.update(getattr(module, "RESOURCES", {}))
    return {"storage": StorageResource(), "catalog": CatalogResource(), **extra}


_MODULES = asset_modules()

defs = Definitions(
    assets=load_assets_from_modules(_MODULES),
    asset_checks=load_asset_checks_from_modules(_MODULES),
    jobs=_collect(_MODULES, "JOBS"),
    schedules=_collect(_MODULES, "SCHEDULES"),
    sensors=_collect(_MODULES, "SENSORS"),
    resources=resources(_MODULES),
)
