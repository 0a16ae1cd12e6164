"""Test-only wrappers around the peers in `peers/` (see its docstring).

Here, not in `peers/`, because they import the product packages (the SMS pump
and outbox, the FastAGI server, the settings): misbehaving Asterisk connections,
the AMI peer, a whole SMS world, a lookup that is down.
"""
