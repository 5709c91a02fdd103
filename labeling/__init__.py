"""Emotion label set, source label mappings, weak labelling, datasets and the chat format."""
