"""``planexe plans ...``: a command-line client of the REST API, a view over it like the dashboard.

- ``api.py``      the HTTP client: base URL, token, one error type carrying the API's code and message
- ``events.py``   the event stream (SSE) read with reconnects from Last-Event-ID
- ``render.py``   plans, lists and events as lines of text
- ``command.py``  the sub-commands: list, show, watch, create, resume, rerun, cancel, delete, download

It keeps no state and no plan logic of its own: every command is one or a few
requests, and every error is the API's, printed as one line.
"""
