#!/usr/bin/env python3
"""A faultline client (protocol 1) for the kv fixture, standard library only.

Usage: kv_client.py HOST:PORT. Answers up to 8 operations at once, in any order.
"""
import json, sys, threading, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

BASE, OUT = "http://" + sys.argv[1], threading.Lock()

def http(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data, {"content-type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)

def handle(op):
    if op["op"] == "put":
        return {"outcome": "ok", "value": http("PUT", "/kv/" + op["key"], op["value"])["value"]}
    if op["op"] == "probe_write":
        return {"outcome": "ok", "value": http("PUT", "/kv/probe-" + op["marker"], op["marker"])["value"]}
    if op["op"] == "probe_read":
        return {"outcome": "ok", "value": http("GET", "/kv/probe-" + op["marker"])["value"]}
    if op["op"] == "final_read":
        return {"outcome": "ok", "value": http("GET", "/state")}
    return {"outcome": "fail", "detail": "unknown op " + op["op"]}

def answer(op):
    try:
        reply = handle(op)
    except urllib.error.HTTPError as err:  # the service answered: it did not happen
        reply = {"outcome": "fail", "detail": f"HTTP {err.code}"}
    except urllib.error.URLError as err:  # refused: never arrived; anything else may have
        refused = isinstance(err.reason, ConnectionRefusedError)
        reply = {"outcome": "fail" if refused else "unknown", "detail": str(err.reason)}
    except Exception as err:
        reply = {"outcome": "unknown", "detail": repr(err)}
    with OUT:
        print(json.dumps({"id": op["id"], **reply}), flush=True)

print(json.dumps({"protocol": 1}), flush=True)
with ThreadPoolExecutor(max_workers=8) as pool:
    for line in sys.stdin:  # stdin closed: finish what is in flight, then exit
        pool.submit(answer, json.loads(line))
