"""How a server process runs: threaded, gevent, the prefork master and its children, and what they share.

The factory (:mod:`.factory`) picks the class for ``config["mode"]``; :mod:`.server`
is the in-process servers' base, :mod:`.foreground` runs one in the foreground
(signals, pidfile, restart), :mod:`.prefork_master` supervises prefork's processes.
Nothing is imported here: the gevent entry module imports this package before
it monkey-patches.
"""
