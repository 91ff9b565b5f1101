"""webhook-gateway: receive -> verify -> map -> dedupe -> publish (or spool).

The modules follow the path of one webhook:

    app.py        HTTP: routes, bounded body read, answers
    pipeline.py   the path itself, independent of HTTP
    verify/       authentication schemes (pure functions)
    providers/    one module per provider + the registry
    map.py        payload -> CloudEvents envelope or dead letter
    dedupe.py     (source, id) seen-window
    publish/      the publisher interface; kafka.py is the only kafka-python importer
"""

__version__ = "0.1.0"
