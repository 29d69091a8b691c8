"""Drives a faultline API with the published Toxiproxy client (toxiproxy-python 0.1.1).

Run by harness/tests/api/main.rs against an API it started:

    .venv/bin/python harness/tests/api/toxiproxy_client.py --url http://127.0.0.1:PORT

Every call the client makes is exercised; anything read back that differs from
what a Toxiproxy server answers makes the script exit non-zero.
"""

import argparse
import json
import socket
import socketserver
import sys
import threading
import time
from urllib.parse import urlparse

import toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


def start_echo():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def round_trip(listen, payload=b"ping"):
    host, port = listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        start = time.monotonic()
        conn.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        elapsed = time.monotonic() - start
    check(got == payload, "echo through the proxy", payload, got)
    return elapsed


def check(ok, what, expected=None, got=None):
    if not ok:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, got))
    print("ok  %s" % what)


def raises(exception, what, call):
    try:
        call()
    except exception as err:
        print("ok  %s (%s)" % (what, exception.__name__))
        return err
    raise AssertionError("%s: expected %s" % (what, exception.__name__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    url = urlparse(parser.parse_args().url)

    server = toxiproxy.Toxiproxy()
    server.update_api_consumer(url.hostname, url.port)
    echo = start_echo()
    upstream = "127.0.0.1:%d" % echo.server_address[1]

    check(server.running() is True, "running()", True, server.running())
    version = json.loads(server.version())["version"]
    major, minor = (int(part) for part in version.split(".")[:2])
    check((major, minor) >= (2, 6), "version() is at least 2.6", ">= 2.6", version)

    # create: listen defaults to 127.0.0.1:0 and comes back with the real port.
    proxy = server.create(upstream=upstream, name="py_echo")
    check(proxy.name == "py_echo", "create() name", "py_echo", proxy.name)
    check(proxy.upstream == upstream, "create() upstream", upstream, proxy.upstream)
    check(proxy.enabled is True, "create() enabled", True, proxy.enabled)
    check(not proxy.listen.endswith(":0"), "create() listen has the real port", "a port", proxy.listen)
    listen = proxy.listen
    round_trip(listen)

    raises(ProxyExists, "create() of an existing name", lambda: server.create(upstream=upstream, name="py_echo"))
    raises(ProxyExists, "POST /proxies of an existing name is 409",
           lambda: APIConsumer.post("/proxies", json={"name": "py_echo", "upstream": upstream}))

    proxies = server.proxies()
    check(set(proxies) == {"py_echo"}, "proxies()", {"py_echo"}, set(proxies))
    check(server.get_proxy("py_echo").listen == listen, "get_proxy() listen", listen, server.get_proxy("py_echo").listen)
    check(server.get_proxy("nope") is None, "get_proxy() of a missing name", None, server.get_proxy("nope"))

    # add_toxic: defaults to downstream, toxicity 1, name <type>_<stream>.
    proxy.add_toxic(type="latency", attributes={"latency": 300, "jitter": 5})
    toxics = proxy.toxics()
    check(set(toxics) == {"latency_downstream"}, "add_toxic() default name", {"latency_downstream"}, set(toxics))
    latency = toxics["latency_downstream"]
    check(latency.type == "latency", "toxic type", "latency", latency.type)
    check(latency.stream == "downstream", "toxic stream", "downstream", latency.stream)
    check(latency.toxicity == 1.0, "toxic toxicity", 1.0, latency.toxicity)
    check(latency.attributes == {"latency": 300, "jitter": 5}, "toxic attributes",
          {"latency": 300, "jitter": 5}, latency.attributes)
    elapsed = round_trip(listen)
    check(elapsed >= 0.3, "a 300 ms latency toxic delays the echo", ">= 0.3 s", elapsed)

    proxy.add_toxic(type="bandwidth", name="stall", stream="upstream", toxicity=0.5, attributes={"rate": 0})
    stall = proxy.get_toxic("stall")
    check(stall is not None and stall.stream == "upstream" and stall.toxicity == 0.5,
          "add_toxic() with name, stream, toxicity", ("upstream", 0.5),
          stall and (stall.stream, stall.toxicity))
    check(proxy.get_toxic("missing") is None, "get_toxic() of a missing name", None, proxy.get_toxic("missing"))

    raises(ProxyExists, "add_toxic() of an existing name", lambda: proxy.add_toxic(type="latency"))
    err = raises(InvalidToxic, "add_toxic() of an unknown type", lambda: proxy.add_toxic(type="nope", name="n"))
    check(b"type" in err.args[0], "the 400 names the type", "type", err.args[0])
    err = raises(InvalidToxic, "add_toxic() with a negative rate",
                 lambda: proxy.add_toxic(type="bandwidth", name="neg", attributes={"rate": -1}))
    check(b'rate' in err.args[0], "the 400 names the attribute", "rate", err.args[0])
    raises(InvalidToxic, "add_toxic() with a bad stream", lambda: proxy.add_toxic(type="latency", stream="sideways"))
    raises(InvalidToxic, "add_toxic() with toxicity 1.5", lambda: proxy.add_toxic(type="latency", name="t", toxicity=1.5))
    raises(NotFound, "add_toxic() on a missing proxy",
           lambda: toxiproxy.Proxy(name="ghost", upstream=upstream, enabled=True, listen="x").add_toxic(type="latency"))

    # The client has no update call: the same transport updates a toxic
    # (Toxiproxy's POST form); attributes merge, toxicity is kept.
    APIConsumer.post("/proxies/py_echo/toxics/latency_downstream", json={"attributes": {"latency": 20}}).json()
    latency = proxy.get_toxic("latency_downstream")
    check(latency.attributes == {"latency": 20, "jitter": 5}, "an update merges attributes",
          {"latency": 20, "jitter": 5}, latency.attributes)
    check(latency.toxicity == 1.0, "an update keeps toxicity", 1.0, latency.toxicity)
    APIConsumer.post("/proxies/py_echo/toxics/stall", json={"toxicity": 0.25}).json()
    stall = proxy.get_toxic("stall")
    check(stall.toxicity == 0.25 and stall.attributes == {"rate": 0}, "a toxicity update keeps attributes",
          (0.25, {"rate": 0}), (stall.toxicity, stall.attributes))
    raises(NotFound, "updating a missing toxic",
           lambda: APIConsumer.post("/proxies/py_echo/toxics/missing", json={"toxicity": 0.1}))

    check(proxy.destroy_toxic("stall") is True, "destroy_toxic()", True, None)
    check(proxy.get_toxic("stall") is None, "a destroyed toxic is gone", None, proxy.get_toxic("stall"))
    raises(NotFound, "destroy_toxic() of a missing toxic", lambda: proxy.destroy_toxic("stall"))

    # disable / enable / down(): the port is kept.
    proxy.disable()
    check(server.get_proxy("py_echo").enabled is False, "disable()", False, server.get_proxy("py_echo").enabled)
    check(server.get_proxy("py_echo").listen == listen, "disable() keeps the listen address", listen,
          server.get_proxy("py_echo").listen)
    proxy.enable()
    check(server.get_proxy("py_echo").enabled is True, "enable()", True, server.get_proxy("py_echo").enabled)
    with proxy.down():
        check(server.get_proxy("py_echo").enabled is False, "down() disables", False, None)
    after = server.get_proxy("py_echo")
    check(after.enabled is True and after.listen == listen, "after down() enabled on the same port",
          (True, listen), (after.enabled, after.listen))
    round_trip(listen)

    # reset(): every toxic removed, every proxy enabled.
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    proxy.disable()
    check(server.reset() is True, "reset()", True, None)
    check(proxy.toxics() == {}, "reset() removes every toxic", {}, proxy.toxics())
    check(server.get_proxy("py_echo").enabled is True, "reset() enables every proxy", True, None)
    round_trip(listen)

    # populate(): the client's own create-or-replace, over create and destroy.
    populated = server.populate([
        {"name": "py_a", "upstream": upstream, "listen": "127.0.0.1:0"},
        {"name": "py_b", "upstream": upstream, "listen": "127.0.0.1:0"},
    ])
    check(sorted(p.name for p in populated) == ["py_a", "py_b"], "populate()", ["py_a", "py_b"],
          sorted(p.name for p in populated))
    check(set(server.proxies()) == {"py_echo", "py_a", "py_b"}, "proxies() after populate()",
          {"py_echo", "py_a", "py_b"}, set(server.proxies()))

    # destroy() / destroy_all().
    check(server.destroy(server.get_proxy("py_a")) is True, "destroy()", True, None)
    raises(NotFound, "destroying a missing proxy", lambda: proxy.destroy() and proxy.destroy())
    server.destroy_all()
    check(server.proxies() == {}, "destroy_all()", {}, server.proxies())
    echo.shutdown()
    print("toxiproxy-python drove faultline: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
