"""Dagster assets and asset checks, one module per group. Thin: they call into the packages."""
