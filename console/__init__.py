"""Operator web console: live line use, dossier look-up (public view only), health."""
