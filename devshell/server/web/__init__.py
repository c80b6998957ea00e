"""The WSGI application: dispatch (:class:`~.application.Root`), requests, routes, sessions, databases.

Also the deploy route with its archive checks, and the unpacking of deployed
modules that every server process keeps in step with its databases. This layer
knows nothing of the process that serves it (threaded, gevent or prefork).
"""
