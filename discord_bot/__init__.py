"""Rosie's Discord bot (discord.py): `rosie discord` or `python -m discord_bot`."""
