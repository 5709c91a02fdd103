"""The apps layer: everything that talks to people, on top of the engine in ``model/``.

``apps.cli`` (the ``rosie`` command) starts ``apps.server`` (the local API) or ``apps.discord_bot``;
those two know nothing of each other and share ``apps.chat``, the conversation layer.
"""
