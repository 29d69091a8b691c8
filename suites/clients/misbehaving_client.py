#!/usr/bin/env python3
"""A faultline client that breaks the protocol on purpose, for the tests that
show a drill survives it: misbehaving_client.py MODE HOST:PORT.

Each mode answers the first 10 operations correctly through the kv fixture,
then: `crash` exits with status 3 mid-drill; `garbage` writes a line that is
not JSON, an answer to an id never sent, and then no more answers; `silent`
never answers again (and ignores stdin closing, so faultline must signal it).
"""
import json, signal, sys, time, urllib.request

MODE, BASE = sys.argv[1], "http://" + sys.argv[2]

def reply(op, **answer):
    print(json.dumps({"id": op["id"], **answer}), flush=True)

print(json.dumps({"protocol": 1}), flush=True)
answered = 0
for line in sys.stdin:
    op = json.loads(line)
    if answered < 10:
        body = json.dumps(op.get("value")).encode()
        request = urllib.request.Request(BASE + "/kv/" + op["key"], body, {"content-type": "application/json"}, method="PUT")
        urllib.request.urlopen(request, timeout=5).close()
        reply(op, outcome="ok")
        answered += 1
    elif MODE == "crash":
        print("misbehaving client: crashing on purpose", file=sys.stderr, flush=True)
        sys.exit(3)
    elif MODE == "garbage":
        if answered == 10:
            print("this is not JSON", flush=True)
            reply({"id": 10**12}, outcome="ok")
            answered += 1
    elif MODE == "silent":
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        answered += 1
if MODE == "silent":
    time.sleep(600)  # stdin closed: still not leaving on its own
