"""The shared kernel: what every component may use and that imports no component.

Settings base, event bus, logging, schema migrations, the one path to the
database, the event-loop monitor. Only `gateway/` (the composition root)
imports every component; components import `kernel`, never each other's root.
"""
