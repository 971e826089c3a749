"""Browser mode: the app in a web page, reachable only by the person who started it.

The page drives an app that edits and runs code as the learner, so any web page
the learner happens to visit must not be able to drive it (a cross-site
WebSocket needs no permission from the browser). As Jupyter does:
- a random token per server, in the URL printed at start: the app is served under
  the path `/<token>/` and nowhere else, its pages, scripts and WebSocket too. No
  cookie holds it: browsers send a host's cookies to every port of that host, so
  any other server on localhost would learn a token kept in one; and the pages
  ask browsers to send no Referer, so the path does not leak to the sites they load;
- a WebSocket or request whose `Origin` is not this server's is refused;
- a `Host` header that is not the address the server answers on is refused, so
  a DNS-rebinding page cannot pose as localhost.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_hosts(host: str, port: int, public_url: str | None) -> set[str]:
    """The Host headers this server answers to: the bound address, its loopback names
    when it is bound to loopback, and the public URL's host."""
    names = {host}
    if host in LOOPBACK:
        names |= set(LOOPBACK)
    hosts = {f"{name}:{port}".lower() for name in names}
    if port == 80:
        hosts |= {n.lower() for n in names}
    if public_url:
        hosts.add(urlsplit(public_url).netloc.lower())
    return hosts


def allowed_origins(hosts: set[str], public_url: str | None) -> set[str]:
    origins = {f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")}
    if public_url:
        origins.add(_origin_of(public_url))
    return origins


def make_server(command: str, *, host: str, port: int, public_url: str | None, token: str | None = None) -> Any:
    """A textual-serve Server that checks the token, Origin and Host of every request."""
    from aiohttp import web
    from textual_serve.server import Server

    token = token or secrets.token_hex(24)  # hex: a path segment with nothing to escape
    prefix = f"/{token}"
    hosts = allowed_hosts(host, port, public_url)
    origins = allowed_origins(hosts, public_url)

    @web.middleware
    async def guard(request: web.Request, handler):
        if request.host.lower() not in hosts:
            return web.Response(status=403, text="tutor serve: this address is not the one the server answers on\n")
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() not in origins:
            return web.Response(status=403, text="tutor serve: requests from other sites are refused\n")
        given = request.path.split("/", 2)[1] if request.path.count("/") >= 1 else ""
        if not secrets.compare_digest(given, token):
            return web.Response(status=403, text="tutor serve: open the address printed by `tutor serve`, "
                                                 "with its token in the path\n")
        response = await handler(request)
        if isinstance(response, web.StreamResponse) and not response.prepared:
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        return response

    class GuardedServer(Server):
        async def _make_app(self) -> web.Application:
            outer = web.Application(middlewares=[guard])
            outer.add_subapp(prefix, await super()._make_app())  # every route under /<token>/
            return outer

    server = GuardedServer(command, host=host, port=port, title="tutor", public_url=public_url)
    server.token = token  # type: ignore[attr-defined]
    server.url = f"{server.public_url}{prefix}/"  # type: ignore[attr-defined]
    return server
