"""Voice prompts: the catalog of Vietnamese scripts, TTS placeholders, staff recordings."""
