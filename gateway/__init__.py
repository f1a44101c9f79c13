"""The gateway: holds client WebSocket connections, forwards events to workers and
executes their commands. No business logic lives here."""
