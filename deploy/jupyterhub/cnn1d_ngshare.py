"""ngshare (the exchange for several hosts, deploy/README.md) as a JupyterHub
service, listening only on its service address's host.

ngshare 0.6.0 listens on every interface (0.0.0.0) at its service URL's
port, whatever host the URL names: plain HTTP carrying users' hub tokens,
open to the network. This runs ngshare's own ``main`` with its server bound
to the host of ``JUPYTERHUB_SERVICE_URL`` (127.0.0.1 as deploy/README.md
configures it), so users' servers on other hosts reach it only through the
hub's proxy, over HTTPS. Arguments are ngshare's (``--admins``, ``--database``,
``--storage``). Run with the users' environment's Python, in isolated mode
(``python -I``), as ngshare's own user: setup.sh hub-config copies this file
into /opt/tljh/hub-config, which only root writes.
"""

import os
import sys
from urllib.parse import urlparse

from ngshare.ngshare import main
from tornado.httpserver import HTTPServer

HOST = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"]).hostname
_listen = HTTPServer.listen


def listen(self, port, address="", **kwargs):
    """tornado's listen, on HOST whatever address ngshare asks for."""
    return _listen(self, port, HOST, **kwargs)


if __name__ == "__main__":
    HTTPServer.listen = listen
    main(sys.argv[1:])
