"""The foundation every other package stands on: typed settings, the artifact layout (every path),
hashing, atomic writes, the data root and the DuckDB catalog. It imports nothing of the project."""
