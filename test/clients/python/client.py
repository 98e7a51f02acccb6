#!/usr/bin/env python3
"""An independent matchbook client, written only from the published protos and docs.

Sources, and nothing else: proto/exchange/v1/order_entry.proto, proto/google/rpc/*.proto,
gateway/README.md ("API", "Authentication", "Errors"), docs/errors.md, docs/report-signatures.md
(and its test vectors, docs/report-signatures-vectors.json).

gRPC through stubs generated from the published protos (grpcio + grpc_tools + protobuf); REST through
the standard library alone (urllib, hmac, hashlib); Ed25519 head signatures with python3-cryptography.
Every request is signed as gateway/README.md "Authentication" says:

    canonical = f"{timestamp_ms}\\n{target}\\n{sha256 hex of the body bytes}"
    signature = hex HMAC-SHA256(secret, canonical)

where target is "METHOD /path" for REST and the full method path for gRPC, and the gRPC body is the
serialized request message exactly as sent.

Usage: client.py --rest http://127.0.0.1:8080 --grpc 127.0.0.1:50051 --key K --secret S --symbol BTC-USD
                 --price P [--off-tick SYMBOL:PRICE:QTY] [--heads chain-heads.jsonl --public-key KEY.pub]
Prints one JSON object per step on stdout ({"step": …, …}); the last one is "done".
"""

import argparse
import base64
import copy
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

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "..", "proto")
VECTORS = os.path.join(HERE, "..", "..", "..", "docs", "report-signatures-vectors.json")
SERVICE = "/exchange.v1.OrderEntryService/"
PROTOS = ("exchange/v1/order_entry.proto", "google/rpc/status.proto", "google/rpc/error_details.proto")
# docs/errors.md "Shapes": the ErrorInfo domain of every matchbook error.
ERROR_DOMAIN = "matchbook.exchange"
# docs/report-signatures.md §1: the canonical form's 26 fields, in this order.
CANONICAL_FIELDS = (
    "exec_id", "order_id", "client_order_id", "orig_client_order_id", "account", "symbol", "side",
    "order_type", "time_in_force", "exec_type", "order_status", "price", "stop_price", "order_qty",
    "cum_qty", "leaves_qty", "last_qty", "last_px", "cum_notional", "avg_px", "display_qty", "reason",
    "trade_id", "last_liquidity_ind", "seq", "ts_us",
)
GENESIS = "0" * 64  # docs/report-signatures.md §2
HEAD_VERSION = 2  # docs/report-signatures.md: version 2, named in every signed head
HEADS_WAIT_S = 60  # heads are signed every chainHeadEveryMs (1 s in the example config): generous on a loaded machine
KEY = SECRET = ""


def emit(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def generate_stubs():
    """Compiles the published protos into a temporary directory and imports the generated modules."""
    import grpc_tools
    from grpc_tools import protoc

    # grpc_tools ships the well-known types (google/protobuf/any.proto, duration.proto) the
    # google.rpc protos import; its protoc.main does not add them to the include path itself.
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    out = tempfile.mkdtemp(prefix="matchbook-py-")
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}", *PROTOS]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {PROTOS}")
    sys.path.insert(0, out)
    mod = importlib.import_module
    return argparse.Namespace(
        pb=mod("exchange.v1.order_entry_pb2"), pb_grpc=mod("exchange.v1.order_entry_pb2_grpc"),
        status=mod("google.rpc.status_pb2"), details=mod("google.rpc.error_details_pb2"),
    )


def sign(secret, target, body):
    """The three authentication headers (lower case: gRPC metadata keys must be)."""
    timestamp = str(int(time.time() * 1000))
    canonical = f"{timestamp}\n{target}\n{hashlib.sha256(body).hexdigest()}"
    signature = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return {"x-mb-apikey": KEY, "x-mb-timestamp": timestamp, "x-mb-signature": signature}


# --- Reports: canonical form, HMAC, hash chain, signed heads (docs/report-signatures.md) ---------


def canonical(report):
    """§1: the 26 fields in order, JSON without whitespace, non-ASCII as itself."""
    return json.dumps({k: report[k] for k in CANONICAL_FIELDS}, separators=(",", ":"), ensure_ascii=False)


def chain_step(previous_hash, canonical_form):
    """§2: chain_hash(n) = hex SHA-256(chain_hash(n-1) + "\\n" + canonical(report n))."""
    return hashlib.sha256(f"{previous_hash}\n{canonical_form}".encode()).hexdigest()


def report_hmac(secret, canonical_form):
    """§3: hex HMAC-SHA256 over the canonical form, keyed with the API secret."""
    return hmac.new(secret.encode(), canonical_form.encode(), hashlib.sha256).hexdigest()


def verify_reports(reports, secret):
    """§5 steps 1-3 over reports as received, in order. Returns counts and one line per failure."""
    out = {"reports": len(reports), "hmac_ok": 0, "links_checked": 0, "gaps": 0, "runs": 0, "failures": []}
    previous = None
    for r in reports:
        missing = [k for k in (*CANONICAL_FIELDS, "chain_seq", "chain_hash", "signature") if k not in r]
        if missing:  # not a report this specification describes: nothing of it can be checked
            out["failures"].append(f"report {r.get('exec_id')}: fields missing: {', '.join(missing)}")
            continue
        form = canonical(r)
        if hmac.compare_digest(report_hmac(secret, form), r["signature"]):
            out["hmac_ok"] += 1
        else:
            out["failures"].append(f"chain_seq {r['chain_seq']}: HMAC signature does not verify")
        if previous is None or r["chain_seq"] <= previous["chain_seq"]:
            out["runs"] += 1  # §2 "Restarts": a chain_seq not above the previous one begins a new run
        link_from = GENESIS if r["chain_seq"] == 1 else None
        if previous is not None and r["chain_seq"] == previous["chain_seq"] + 1:
            link_from = previous["chain_hash"]
        if link_from is None:
            out["gaps"] += 1  # nothing to link: other reports were chained in between
        else:
            out["links_checked"] += 1
            if chain_step(link_from, form) != r["chain_hash"]:
                out["failures"].append(f"chain_seq {r['chain_seq']}: chain_hash does not follow from the previous one")
        previous = r
    return out


def head_message(head):
    """§4: the UTF-8 message an Ed25519 head signature covers."""
    return f"matchbook-report-chain/{head['version']}\n{head['chain_seq']}\n{head['chain_hash']}".encode()


def verify_heads(heads, public_key_b64, reports):
    """§5 step 4: every head's signature and version; which received reports a head binds."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
    out = {"heads": len(heads), "signatures_ok": 0, "bound_chain_seqs": [], "failures": []}
    by_seq = {r["chain_seq"]: r for r in reports}
    for h in heads:
        try:
            if h.get("version") != HEAD_VERSION:
                raise InvalidSignature(f"version {h.get('version')}")
            key.verify(base64.b64decode(h["signature"], validate=True), head_message(h))
            out["signatures_ok"] += 1
        except (InvalidSignature, ValueError) as err:
            out["failures"].append(f"head at chain_seq {h['chain_seq']}: signature does not verify {err}".strip())
            continue
        r = by_seq.get(h["chain_seq"])
        if r is not None:
            if r["chain_hash"] == h["chain_hash"]:
                out["bound_chain_seqs"].append(h["chain_seq"])
            else:
                out["failures"].append(f"head at chain_seq {h['chain_seq']}: chain_hash differs from the report's")
    return out


def tamper_one_byte(report):
    """A copy of the report with one byte of its client order id changed (still a valid id)."""
    bad = dict(report)
    cid = bad["client_order_id"]
    bad["client_order_id"] = cid[:-1] + ("x" if cid[-1] != "x" else "y")
    return bad


def check_vectors():
    """This verifier against the published test vectors (docs/report-signatures.md "Test vectors")."""
    v = json.load(open(VECTORS, encoding="utf-8"))
    reports = [x["report"] for x in v["reports"]]
    canonical_ok = all(canonical(x["report"]) == x["canonical"] for x in v["reports"])
    summary = verify_reports(reports, v["hmac_secret"])
    head = v["head"]["line"]
    message_ok = head_message(head) == v["head"]["message"].encode()
    heads = verify_heads([head], v["ed25519_public_key_base64"], reports)
    # A wide instrument's report: cum_notional above 2^53 (Python's int is exact; json writes its digits).
    wide = v["wide_report"]
    wide_summary = verify_reports([wide["report"]], v["hmac_secret"])
    wide_ok = canonical(wide["report"]) == wide["canonical"] and wide["report"]["cum_notional"] > 2**53
    emit("vectors", canonical_ok=canonical_ok, head_message_ok=message_ok, reports=summary, heads=heads,
         wide_canonical_ok=wide_ok, wide_report=wide_summary)


# --- Generic proto <-> JSON, as the REST API writes it (gateway/README.md "API": snake_case names,
# enums as their names without the prefix; proto/README.md: zero values are *_UNSPECIFIED) -----------


def enum_prefix(enum_type):
    return enum_type.values_by_number[0].name.removesuffix("UNSPECIFIED")


def from_proto(msg):
    """Every field, defaults included (a gRPC report leaves them out: §1), enums as REST names."""
    out = {}
    for f in msg.DESCRIPTOR.fields:
        value = getattr(msg, f.name)
        if f.enum_type is not None:
            value = "" if value == 0 else f.enum_type.values_by_number[value].name.removeprefix(enum_prefix(f.enum_type))
        elif f.message_type is not None:
            continue
        out[f.name] = value
    return out


def to_proto(cls, fields):
    msg = cls()
    for name, value in fields.items():
        f = cls.DESCRIPTOR.fields_by_name[name]
        setattr(msg, name, f.enum_type.values_by_name[enum_prefix(f.enum_type) + value].number if f.enum_type else value)
    return msg


# --- gRPC (proto/exchange/v1/order_entry.proto; errors: docs/errors.md "Shapes") ---------------------


class GrpcClient:
    name = "grpc"

    def __init__(self, address, stubs, received):
        import grpc

        self.grpc = grpc
        self.s = stubs
        self.stub = stubs.pb_grpc.OrderEntryServiceStub(grpc.insecure_channel(address))
        self.received = received

    def call(self, method, request):
        """Signs the request's bytes and sends that message; returns (response, None) or (None, error)."""
        metadata = list(sign(SECRET, SERVICE + method, request.SerializeToString()).items())
        try:
            return getattr(self.stub, method)(request, metadata=metadata, timeout=30), None
        except self.grpc.RpcError as err:
            return None, self.decode_error(err)

    def decode_error(self, err):
        """The x-mb-* trailers and the google.rpc.Status in grpc-status-details-bin, decoded, and
        whether they agree as docs/errors.md "Shapes" says (same code and message as the call's
        status; ErrorInfo's reason and metadata "code" equal to the x-mb-error-* trailers)."""
        trailers = {m.key: m.value for m in (err.trailing_metadata() or ())}
        out = {"grpc_status": err.code().name, "grpc_message": err.details(),
               "x_mb_error_code": trailers.get("x-mb-error-code"), "x_mb_error_reason": trailers.get("x-mb-error-reason")}
        raw = trailers.get("grpc-status-details-bin")  # bytes: grpcio base64-decodes -bin metadata
        if raw is None:
            return out
        status = self.s.status.Status.FromString(raw)
        out["status"] = {"code": status.code, "message": status.message}
        for any_detail in status.details:
            if any_detail.Is(self.s.pb.OrderResult.DESCRIPTOR):
                # docs/errors.md: a command the engine refused after sequencing carries its
                # OrderResult (the REJECTED report, signed and chained like any report).
                result = self.s.pb.OrderResult()
                any_detail.Unpack(result)
                out["order_result"] = {**from_proto(result), "reports": [from_proto(r) for r in result.reports]}
            elif any_detail.Is(self.s.details.ErrorInfo.DESCRIPTOR):
                info = self.s.details.ErrorInfo()
                any_detail.Unpack(info)
                out["error_info"] = {"reason": info.reason, "domain": info.domain, "metadata": dict(info.metadata)}
            elif any_detail.Is(self.s.details.RetryInfo.DESCRIPTOR):
                retry = self.s.details.RetryInfo()
                any_detail.Unpack(retry)
                out["retry_info"] = {"retry_delay_ms": retry.retry_delay.ToMilliseconds()}
        info = out.get("error_info", {})
        out["consistent"] = (
            status.code == err.code().value[0] and status.message == err.details()
            and info.get("domain") == ERROR_DOMAIN and info.get("reason") == out["x_mb_error_reason"]
            and info.get("metadata", {}).get("code") == out["x_mb_error_code"]
        )
        return out

    def command(self, method, request_cls, fields):
        response, err = self.call(method, to_proto(request_cls, fields))
        if err is not None:
            self.received.extend(err.get("order_result", {}).get("reports", []))  # a refused command's reports
            return None, err
        reports = [from_proto(r) for r in response.result.reports]  # the signing fields included
        self.received.extend(reports)
        return reports, None

    def place(self, order):
        return self.command("PlaceOrder", self.s.pb.PlaceOrderRequest, order)

    def amend(self, order_id, changes):
        return self.command("AmendOrder", self.s.pb.AmendOrderRequest, {"order_id": order_id, **changes})

    def cancel(self, order_id):
        return self.command("CancelOrder", self.s.pb.CancelOrderRequest, {"order_id": order_id})

    def get(self, order_id):
        response, err = self.call("GetOrder", self.s.pb.GetOrderRequest(order_id=order_id))
        return (from_proto(response.order), None) if err is None else (None, err)

    def instruments(self):
        """ListInstruments, when the published proto has it; None otherwise."""
        service = self.s.pb.DESCRIPTOR.services_by_name["OrderEntryService"]
        if "ListInstruments" not in service.methods_by_name:
            return None
        response = self.stub.ListInstruments(self.s.pb.ListInstrumentsRequest(), timeout=30)  # public: no auth
        return [from_proto(i) for i in response.instruments]


# --- REST (gateway/README.md "API"; errors: docs/errors.md "Shapes") ---------------------------------


class RestClient:
    name = "rest"

    def __init__(self, base, received):
        self.base = base
        self.received = received

    def request(self, method, path, payload=None, signed=True):
        """Returns (HTTP status, parsed JSON body or None)."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = sign(SECRET, f"{method} {path}", body) if signed else {}
        if payload is not None:
            headers["content-type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=body if payload is not None else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            text = err.read()
            return err.code, json.loads(text) if text else None

    def command(self, method, path, payload=None):
        status, body = self.request(method, path, payload)
        if status >= 300:
            # docs/errors.md: a command the engine refused after sequencing has `result` in the
            # error body, with its reports (the REJECTED one), signed and chained like any report.
            result = body.get("result") if isinstance(body, dict) else None
            self.received.extend(result["reports"] if isinstance(result, dict) else [])
            return None, {"http_status": status, "body": body}
        reports = body["result"]["reports"]
        self.received.extend(reports)
        return reports, None

    def place(self, order):
        return self.command("POST", "/v1/orders", order)

    def amend(self, order_id, changes):
        return self.command("PATCH", f"/v1/orders/{order_id}", changes)

    def cancel(self, order_id):
        return self.command("DELETE", f"/v1/orders/{order_id}")

    def get(self, order_id):
        status, body = self.request("GET", f"/v1/orders/{order_id}")
        return (body["order"], None) if status == 200 else (None, {"http_status": status, "body": body})

    def instruments(self):
        """GET /v1/instruments, when the gateway answers it; None on 404 (not served)."""
        status, body = self.request("GET", "/v1/instruments", signed=False)
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"GET /v1/instruments: HTTP {status} {body}")
        return body["instruments"]


# --- Scenarios --------------------------------------------------------------------------------------


def read_back(clients, *order_ids):
    """GetOrder over both protocols: {order_id: {"grpc": order, "rest": order}} (or their errors)."""
    out = {}
    for order_id in order_ids:
        for c in clients:
            order, err = c.get(order_id)
            out.setdefault(str(order_id), {})[c.name] = order if err is None else {"error": err}
    return out


def run_instruments(clients, symbol):
    """Step 3 of the check: the instrument list over both protocols, when served."""
    found = {}
    for c in clients:
        instruments = c.instruments()
        if instruments is None:
            emit(f"{c.name}.instruments", skipped=True)
            continue
        found[c.name] = instruments
        emit(f"{c.name}.instruments", skipped=False, instruments=instruments)
    listed = next(iter(found.values()), None)
    return None if listed is None else {i["symbol"]: i for i in listed}


def choose_params(instruments, symbol, price, off_tick):
    """Price and quantity unit from the instrument (tick, lot, minimum), else from the arguments."""
    if instruments is None:
        params = {"source": "arguments", "price": price, "tick": 1, "lot": 1}
        if off_tick:
            sym, px, qty = off_tick.split(":")
            params["off_tick"] = {"symbol": sym, "price": int(px), "quantity": int(qty)}
        return params
    inst = instruments[symbol]
    tick, lot = inst["tick_size"], inst["lot_size"]
    lot = lot * max(1, -(-inst["min_quantity"] // lot))  # the smallest valid quantity
    price = price // tick * tick
    if inst["band_low_price"] or inst["band_high_price"]:  # a band: keep the price (and price + tick) inside it
        price = min(max(price, inst["band_low_price"]), inst["band_high_price"] - tick)
    params = {"source": "instruments", "price": price, "tick": tick, "lot": lot}
    coarse = next((i for i in instruments.values() if i["tick_size"] > 1), None)
    if coarse is not None:
        qty = coarse["lot_size"] * max(1, -(-coarse["min_quantity"] // coarse["lot_size"]))
        params["off_tick"] = {"symbol": coarse["symbol"], "price": coarse["reference_price"] + 1, "quantity": qty}
    return params


def run_errors(clients, symbol, params):
    """Step 1: requests the gateway refuses before sequencing; the client prints what it decoded."""
    base = {"side": "BUY", "order_type": "LIMIT", "time_in_force": "GTC"}
    cases = [("unknown_symbol", {**base, "client_order_id": "py-err-1", "symbol": "NO-SUCH-SYMBOL",
                                 "price": params["price"], "quantity": params["lot"]})]
    if "off_tick" in params:
        o = params["off_tick"]
        cases.append(("off_tick", {**base, "client_order_id": "py-err-2", "symbol": o["symbol"],
                                   "price": o["price"], "quantity": o["quantity"]}))
    for c in clients:
        for name, order in cases:
            emit(f"{c.name}.error.{name}", error=c.place(order)[1])


def run_orders(c, clients, symbol, params):
    """Place → (duplicate client order id) → amend → cancel, GetOrder over both protocols after each."""
    px, lot, tick = params["price"], params["lot"], params["tick"]
    order = {"client_order_id": f"py-{c.name}-1", "symbol": symbol, "side": "BUY", "order_type": "LIMIT",
             "time_in_force": "GTC", "price": px, "quantity": 3 * lot}
    placed, err = c.place(order)
    emit(f"{c.name}.place", report=placed and placed[0], error=err, get=placed and read_back(clients, placed[0]["order_id"]))
    if placed is None:
        return
    order_id = placed[0]["order_id"]
    # Sequenced, then refused by the engine (docs/errors.md: ORDER_REJECTED with seq and order_id,
    # and the command's result with its REJECTED report).
    emit(f"{c.name}.error.duplicate", error=c.place(order)[1])
    amended, err = c.amend(order_id, {"quantity": 2 * lot, "price": px + tick})
    emit(f"{c.name}.amend", report=amended and amended[0], error=err, get=read_back(clients, order_id))
    canceled, err = c.cancel(order_id)
    emit(f"{c.name}.cancel", report=canceled and canceled[0], error=err, get=read_back(clients, order_id))
    emit(f"{c.name}.place_invalid", error=c.place({**order, "client_order_id": "has space"})[1])


def run_fills(c, clients, symbol, params):
    """A resting SELL, then a crossing BUY of the same account with self-trade prevention NONE:
    the BUY's reply holds both sides' TRADE reports (maker and taker); then the BUY's rest is canceled."""
    px, lot = params["price"], params["lot"]
    base = {"symbol": symbol, "order_type": "LIMIT", "time_in_force": "GTC", "price": px, "self_trade_prevention": "NONE"}
    maker, err = c.place({**base, "client_order_id": f"py-{c.name}-maker", "side": "SELL", "quantity": 2 * lot})
    emit(f"{c.name}.fill.maker", reports=maker, error=err, get=maker and read_back(clients, maker[0]["order_id"]))
    if maker is None:
        return
    taker, err = c.place({**base, "client_order_id": f"py-{c.name}-taker", "side": "BUY", "quantity": 3 * lot})
    ids = [maker[0]["order_id"]] + ([taker[0]["order_id"]] if taker else [])
    emit(f"{c.name}.fill.taker", reports=taker, error=err, get=read_back(clients, *ids))
    if taker is None:
        return
    canceled, err = c.cancel(taker[0]["order_id"])
    emit(f"{c.name}.fill.cancel", report=canceled and canceled[0], error=err, get=read_back(clients, taker[0]["order_id"]))


def wait_for_heads(path, last_chain_seq):
    """The heads file, once the gateway has signed a head at or past our last report (§4)."""
    deadline = time.monotonic() + HEADS_WAIT_S
    while True:
        with open(path, encoding="utf-8") as f:
            heads = [json.loads(line) for line in f if line.strip()]
        if any(h["chain_seq"] >= last_chain_seq for h in heads) or time.monotonic() > deadline:
            return heads
        time.sleep(0.2)


def run_chain(received, heads_path, public_key_path):
    """Step 2: every report received, in order; then the same with one byte changed in one report."""
    emit("chain", **verify_reports(received, SECRET))
    trade = next(i for i, r in enumerate(received) if r["exec_type"] == "TRADE")
    tampered = copy.deepcopy(received)
    tampered[trade] = tamper_one_byte(tampered[trade])
    emit("chain.tampered", chain_seq=received[trade]["chain_seq"], **verify_reports(tampered, SECRET))
    if not heads_path or not public_key_path:
        emit("heads", skipped=True)
        return
    heads = wait_for_heads(heads_path, received[-1]["chain_seq"])
    public_key = open(public_key_path, encoding="utf-8").read().strip()
    emit("heads", skipped=False, last_report_chain_seq=received[-1]["chain_seq"], **verify_heads(heads, public_key, received))
    bad = [dict(h) for h in heads]
    last = bad[-1]
    last["chain_hash"] = last["chain_hash"][:-1] + ("0" if last["chain_hash"][-1] != "0" else "1")
    emit("heads.tampered", **verify_heads(bad, public_key, received))


def main():
    global KEY, SECRET
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("rest", "grpc", "key", "secret", "symbol"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--price", type=int, required=True, help="a limit price inside the instrument's band, in price units")
    p.add_argument("--off-tick", help="SYMBOL:PRICE:QTY, an order off its instrument's tick (when instruments are not served)")
    p.add_argument("--heads", help="the gateway's chain-heads.jsonl")
    p.add_argument("--public-key", help="the exchange's Ed25519 public key file (<signingKey>.pub)")
    a = p.parse_args()
    KEY, SECRET = a.key, a.secret
    check_vectors()
    stubs = generate_stubs()
    received = []  # every report received, in order, over both protocols (docs/report-signatures.md §5)
    clients = [GrpcClient(a.grpc, stubs, received), RestClient(a.rest.rstrip("/"), received)]
    params = choose_params(run_instruments(clients, a.symbol), a.symbol, a.price, a.off_tick)
    emit("params", **params)
    run_errors(clients, a.symbol, params)
    for c in clients:
        run_orders(c, clients, a.symbol, params)
        run_fills(c, clients, a.symbol, params)
    run_chain(received, a.heads, a.public_key)
    emit("done")


if __name__ == "__main__":
    main()
