"""Loopback peers that speak the real protocols: Asterisk (FastAGI), SMSC."""
