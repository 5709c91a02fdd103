"""The one Definitions object: every asset, check, job, schedule, sensor and resource."""

from __future__ import annotations

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from pipelines.resources import CatalogResource, StorageResource

# One module per asset group (see assets/). Add a group's module here.
ASSET_MODULES: list = []

defs = Definitions(
    assets=load_assets_from_modules(ASSET_MODULES),
    asset_checks=load_asset_checks_from_modules(ASSET_MODULES),
    resources={"storage": StorageResource(), "catalog": CatalogResource()},
)
