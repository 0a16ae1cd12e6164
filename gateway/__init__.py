"""Composition root: settings, logging, the CLI and the process that runs every component."""
