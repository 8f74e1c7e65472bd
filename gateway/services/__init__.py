"""Use cases shared by the CLI, the worker and the admin UI; they return plain dataclasses."""
