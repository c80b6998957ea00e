"""Servers in the background of a notebook or a shell: ``devshell.start_server()`` and its handles.

threaded runs in this process (:mod:`.in_process`); gevent and prefork run as a
child process (:mod:`.child_process`); :mod:`.launch` starts them, :mod:`.registry`
keeps the running ones, :mod:`.ports` names who holds a busy port.
"""
