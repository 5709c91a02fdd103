"""Rosie's local API for the desktop app: FastAPI over HTTP and WebSocket."""
