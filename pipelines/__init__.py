"""Dagster definitions, resources, jobs, schedules and sensors. Entry point: ``pipelines.definitions``."""
