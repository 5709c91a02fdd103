"""Rosie's Discord bot (discord.py): `rosie discord`."""
