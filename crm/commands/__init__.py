"""Command groups: one module per noun, each exposing a Typer `app` (or a single command)."""
