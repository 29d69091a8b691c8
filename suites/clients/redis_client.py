#!/usr/bin/env python3
"""A faultline client (protocol 1) for Redis, with the `redis` package:
redis_client.py HOST:PORT [PRIMARY_VIA_LINK SELF_AS_SEEN_BY_PRIMARY].

Operations: `put` (SET key value), `get` (GET key), `probe_write` /
`probe_read` (SET/GET probe:MARKER), `final_read` (every key but the probes',
as {"data": {key: value}}). One operation at a time, in order.

`failover` is a Sentinel's tick, for the failover drill: this client runs
next to the replica; when the primary (PRIMARY_VIA_LINK) has not answered a
PING for 3 ticks in a row it promotes the replica (REPLICAOF NO ONE), and once
the old primary answers again it re-attaches it as a replica of the promoted
one (REPLICAOF SELF_AS_SEEN_BY_PRIMARY), which makes Redis discard whatever
the old primary accepted meanwhile.
"""
import json, sys

import redis

def connect(addr, timeout):
    host, port = addr.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), socket_timeout=timeout,
                       socket_connect_timeout=timeout, decode_responses=True)

local = connect(sys.argv[1], 2.0)
primary = connect(sys.argv[2], 0.3) if len(sys.argv) > 2 else None
me = sys.argv[3].rsplit(":", 1) if len(sys.argv) > 3 else None
sentinel = {"misses": 0, "promoted": False, "reattached": False}

def failover():
    try:
        primary.ping()
        reachable = True
    except redis.RedisError:
        reachable = False
    if not sentinel["promoted"]:
        sentinel["misses"] = 0 if reachable else sentinel["misses"] + 1
        if sentinel["misses"] >= 3:
            local.execute_command("REPLICAOF", "NO", "ONE")
            sentinel["promoted"] = True
            return "primary unreachable for 3 ticks: promoted the replica"
        return "primary reachable" if reachable else f"primary missed {sentinel['misses']} pings"
    if not sentinel["reattached"] and reachable:
        primary.execute_command("REPLICAOF", me[0], me[1])
        sentinel["reattached"] = True
        return "old primary back: re-attached it as a replica of the promoted one"
    return "promoted" + (", old primary re-attached" if sentinel["reattached"] else "")

def handle(op):
    kind = op["op"]
    if kind == "put":
        local.set(op["key"], json.dumps(op["value"]))
        return {"outcome": "ok"}
    if kind == "get":
        value = local.get(op["key"])
        return {"outcome": "ok", "value": None if value is None else json.loads(value)}
    if kind == "probe_write":
        local.set("probe:" + op["marker"], op["marker"])
        return {"outcome": "ok"}
    if kind == "probe_read":
        return {"outcome": "ok", "value": local.get("probe:" + op["marker"])}
    if kind == "final_read":
        keys = [k for k in local.scan_iter(count=1000) if not k.startswith("probe:")]
        values = local.mget(keys) if keys else []
        data = {k: json.loads(v) for k, v in zip(keys, values) if v is not None}
        return {"outcome": "ok", "value": {"data": data, "role": local.info("replication")["role"]}}
    if kind == "failover":
        return {"outcome": "ok", "detail": failover()}
    return {"outcome": "fail", "detail": "unknown op " + kind}

print(json.dumps({"protocol": 1}), flush=True)
for line in sys.stdin:
    op = json.loads(line)
    try:
        answer = handle(op)
    except redis.exceptions.ResponseError as err:  # refused by Redis (READONLY): not done
        answer = {"outcome": "fail", "detail": str(err)}
    except redis.exceptions.ConnectionError as err:
        refused = isinstance(err.__cause__, ConnectionRefusedError) or "refused" in str(err)
        answer = {"outcome": "fail" if refused else "unknown", "detail": str(err)}
    except Exception as err:  # a timeout: it may have happened
        answer = {"outcome": "unknown", "detail": repr(err)}
    print(json.dumps({"id": op["id"], **answer}), flush=True)
