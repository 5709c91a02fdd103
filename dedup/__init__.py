"""Raw readers, datatrove cleaning pipelines and deduplication. Runnable without Dagster."""
