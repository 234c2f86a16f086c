#!/usr/bin/env python3
"""python_client.py -- a web shop's checkout talking to `patron serve --http`
with the Python standard library only (urllib.request, json). It quotes a
cart, shows the total, commits the order with expect_total_cents (so a price
or config change in between is refused as stale_quote instead of charging a
different amount), then reads the customer's balance.

    patron serve --http 127.0.0.1:8080 &
    python3 examples/clients/python_client.py http://127.0.0.1:8080 WEB-0002 [CUSTOMER]

PATRON_TOKEN, when set, is sent as a bearer token. Errors are the JSON error
object of the contract ({"error":{"code","message","path"}}); the script
prints it and exits 1. A commit is safe to retry with the same order id: the
server returns the first receipt.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
ORDER_ID = sys.argv[2] if len(sys.argv) > 2 else "WEB-%d" % int(time.time() * 1000)
CUSTOMER = sys.argv[3] if len(sys.argv) > 3 else "C1"
TOKEN = os.environ.get("PATRON_TOKEN")

# Talk to the server directly, whatever the environment's proxy settings.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PatronError(Exception):
    pass


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if TOKEN:
        req.add_header("Authorization", "Bearer " + TOKEN)
    try:
        with OPENER.open(req, timeout=10) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        err = json.load(e).get("error", {})
        raise PatronError("%s %s: HTTP %d %s: %s"
                          % (method, path, e.code, err.get("code"), err.get("message")))


def money(cents):
    return "%d.%02d" % divmod(cents, 100)


def main():
    cart = {
        "customer": CUSTOMER,
        "order_id": ORDER_ID,
        "lines": [
            {"sku": "COF-01", "qty": 2, "unit_cents": 1290},
            {"sku": "MUG-01", "qty": 1, "unit_cents": 890},
        ],
    }
    quote = call("POST", "/v1/quote", cart)
    print("quote: total %s %s, earns %d points"
          % (money(quote["total_cents"]), quote["currency"], quote["points_earned"]))
    for d in quote["discounts"]:
        print("  %s: -%s" % (d["source"], money(d["cents"])))
    if quote["free_shipping"]["missing_cents"] > 0:
        print("  add %s more for free shipping" % money(quote["free_shipping"]["missing_cents"]))

    receipt = call("POST", "/v1/commit", dict(cart, expect_total_cents=quote["total_cents"]))
    print("commit: order %s recorded, total %s, balance after %d"
          % (receipt["order_id"], money(receipt["total_cents"]), receipt["balance_after"]))

    b = call("GET", "/v1/customers/%s/balance" % urllib.parse.quote(CUSTOMER, safe=""))
    print("balance: %s has %d points (%d spendable), tier %s"
          % (b["customer"], b["points"], b["spendable"], b["tier"]))


if __name__ == "__main__":
    try:
        main()
    except (PatronError, urllib.error.URLError, OSError) as e:
        print("python_client: %s" % e, file=sys.stderr)
        sys.exit(1)
