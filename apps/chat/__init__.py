"""The conversation layer the terminal chat, the local API and the Discord bot share.

``service`` (ChatService: one code path for every reply), ``history`` (turns in SQLite, windowed
to the prompt budget) and ``slots`` (how many generations run at once).
"""
