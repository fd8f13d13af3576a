"""The web console: login, the Bitbucket user, repositories, change of review user, troubleshooting.

``ConsoleServer(admin, store, config).start()`` serves it on ``config.console_host`` (loopback by
default) and ``config.console_port``; the pages and assets ship in ``static/``.
"""

from bbreview.service.console.server import Console, ConsoleServer

__all__ = ["Console", "ConsoleServer"]
