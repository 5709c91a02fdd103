"""Tokenizer, transformer, training entry point and inference engine."""
