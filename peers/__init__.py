"""The demo and test peers: the other end of each protocol, run on loopback.

- `peers.asterisk`: Asterisk's side of a FastAGI call, faithful to res_agi.c
  (`tracuu call`, the voice tests and benchmarks dial the real server with it).
- `peers.smsc`: a small SMSC on smpp.pdu3, independent of the gateway's sms/pdu.py
  (demo mode binds to it, `tracuu sms text` texts through it; `python -m
  peers.smsc` runs one on its own).

They import nothing of tracuu, so any package may use them without a cycle; no
production path needs them. Their third-party dependencies are the optional
extra `peers` (`pip install -e '.[peers]'`; `scripts/bootstrap` installs it).

Test-only wrappers that build on these peers and on the components (misbehaving
Asterisk connections, the AMI peer, a whole SMS world with pump and outbox, a
lookup that is down) live in `tests/peers/`: they import the product packages,
which a peer here must not.
"""

INSTALL_HINT = "pip install -e '.[peers]' (or: bash scripts/bootstrap install)"


class PeersExtraMissing(ImportError):
    """A peer's dependency (the optional extra `peers`) is not installed."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} needs the optional extra 'peers': {INSTALL_HINT}")
