#!/usr/bin/env python3
"""An independent matchbook client, written only from proto/exchange/v1/*.proto and gateway/README.md.

gRPC through stubs generated from the published protos (grpcio + grpc_tools + protobuf); REST through
the standard library alone (urllib, hmac, hashlib). Every request is signed as gateway/README.md
"Authentication" says:

    canonical = f"{timestamp_ms}\\n{target}\\n{sha256 hex of the body bytes}"
    signature = hex HMAC-SHA256(secret, canonical)

where target is "METHOD /path" for REST and the full method path for gRPC, and the gRPC body is the
serialized request message exactly as sent.

Usage: client.py --rest http://127.0.0.1:8080 --grpc 127.0.0.1:50051 --key K --secret S --symbol BTC-USD --price P
Runs place → amend → cancel over gRPC, then over REST, and prints one JSON object per step on stdout.
"""

import argparse
import hashlib
import hmac
import importlib
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "proto")
SERVICE = "/exchange.v1.OrderEntryService/"


def generate_stubs():
    """Compiles order_entry.proto into a temporary directory and imports the generated modules."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="matchbook-py-")
    args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--grpc_python_out={out}", "exchange/v1/order_entry.proto"]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on proto/exchange/v1/order_entry.proto")
    sys.path.insert(0, out)
    return importlib.import_module("exchange.v1.order_entry_pb2"), importlib.import_module("exchange.v1.order_entry_pb2_grpc")


def sign(secret, target, body):
    """The three authentication headers (lower case: gRPC metadata keys must be)."""
    timestamp = str(int(time.time() * 1000))
    canonical = f"{timestamp}\n{target}\n{hashlib.sha256(body).hexdigest()}"
    signature = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return {"x-mb-apikey": KEY, "x-mb-timestamp": timestamp, "x-mb-signature": signature}


# --- gRPC -------------------------------------------------------------------------------------


class GrpcClient:
    def __init__(self, address, pb, pb_grpc):
        import grpc

        self.grpc = grpc
        self.pb = pb
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.OrderEntryServiceStub(self.channel)

    def call(self, method, request):
        """Signs the request's bytes and sends that message; returns (response, None) or (None, status name)."""
        body = request.SerializeToString()
        metadata = list(sign(SECRET, SERVICE + method, body).items())
        try:
            return getattr(self.stub, method)(request, metadata=metadata, timeout=30), None
        except self.grpc.RpcError as err:
            return None, err.code().name

    def report(self, response):
        r = response.result.reports[0]
        pb = self.pb
        return {
            "order_id": r.order_id,
            "client_order_id": r.client_order_id,
            "exec_type": pb.ExecType.Name(r.exec_type).removeprefix("EXEC_TYPE_"),
            "order_status": pb.OrderStatus.Name(r.order_status).removeprefix("ORDER_STATUS_"),
            "price": r.price,
            "order_qty": r.order_qty,
            "leaves_qty": r.leaves_qty,
        }


def run_grpc(client, symbol, price):
    pb = client.pb
    place = pb.PlaceOrderRequest(
        client_order_id="py-grpc-1", symbol=symbol, side=pb.SIDE_BUY, order_type=pb.ORDER_TYPE_LIMIT,
        time_in_force=pb.TIME_IN_FORCE_GTC, price=price, quantity=3,
    )
    placed, err = client.call("PlaceOrder", place)
    emit("grpc.place", placed and client.report(placed), err)
    if placed is None:
        return
    order_id = placed.result.reports[0].order_id
    amended, err = client.call("AmendOrder", pb.AmendOrderRequest(order_id=order_id, quantity=2, price=price + 1))
    emit("grpc.amend", amended and client.report(amended), err)
    canceled, err = client.call("CancelOrder", pb.CancelOrderRequest(order_id=order_id))
    emit("grpc.cancel", canceled and client.report(canceled), err)
    bad = pb.PlaceOrderRequest(client_order_id="has space", symbol=symbol, side=pb.SIDE_BUY,
                               order_type=pb.ORDER_TYPE_LIMIT, price=price, quantity=1)
    _, err = client.call("PlaceOrder", bad)
    emit("grpc.place_invalid", None, err)


# --- REST -------------------------------------------------------------------------------------


def rest(base, method, path, payload=None):
    """Returns (HTTP status, parsed JSON body or None)."""
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = sign(SECRET, f"{method} {path}", body)
    if payload is not None:
        headers["content-type"] = "application/json"
    req = urllib.request.Request(base + path, data=body if payload is not None else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, json.loads(text) if text else None


def rest_report(status, body):
    if status >= 300:
        return None, f"HTTP {status}"
    r = body["result"]["reports"][0]
    keys = ("order_id", "client_order_id", "exec_type", "order_status", "price", "order_qty", "leaves_qty")
    return {k: r[k] for k in keys}, None


def run_rest(base, symbol, price):
    order = {"client_order_id": "py-rest-1", "symbol": symbol, "side": "BUY", "order_type": "LIMIT",
             "time_in_force": "GTC", "price": price, "quantity": 3}
    placed, err = rest_report(*rest(base, "POST", "/v1/orders", order))
    emit("rest.place", placed, err)
    if placed is None:
        return
    path = f"/v1/orders/{placed['order_id']}"
    emit("rest.amend", *rest_report(*rest(base, "PATCH", path, {"quantity": 2, "price": price + 1})))
    emit("rest.cancel", *rest_report(*rest(base, "DELETE", path)))
    status, _ = rest(base, "POST", "/v1/orders", {**order, "client_order_id": "has space"})
    emit("rest.place_invalid", None, f"HTTP {status}")


def emit(step, report, error):
    print(json.dumps({"step": step, "report": report, "error": error}), flush=True)


def main():
    global KEY, SECRET
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("rest", "grpc", "key", "secret", "symbol"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--price", type=int, required=True, help="a limit price inside the instrument's band, in price units")
    a = p.parse_args()
    KEY, SECRET = a.key, a.secret
    pb, pb_grpc = generate_stubs()
    run_grpc(GrpcClient(a.grpc, pb, pb_grpc), a.symbol, a.price)
    run_rest(a.rest.rstrip("/"), a.symbol, a.price)


KEY = SECRET = ""

if __name__ == "__main__":
    main()
