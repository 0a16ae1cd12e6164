"""The shared dossier lookup: model, code parsing and the adapters voice, SMS and web query."""
