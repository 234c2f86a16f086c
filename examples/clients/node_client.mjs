// node_client.mjs -- a web shop's checkout talking to `patron serve --http`
// with Node.js 18+ and no dependencies (global fetch). It quotes a cart,
// shows the total, commits the order with expect_total_cents (so a price
// or config change in between is refused as stale_quote instead of
// charging a different amount), then reads the customer's balance.
//
//   patron serve --http 127.0.0.1:8080 &
//   node examples/clients/node_client.mjs http://127.0.0.1:8080 WEB-0001 [CUSTOMER]
//
// PATRON_TOKEN, when set, is sent as a bearer token. Errors are the JSON
// error object of the contract ({"error":{"code","message","path"}}); the
// script prints it and exits 1. A commit is safe to retry with the same
// order id: the server returns the first receipt.

const [base = 'http://127.0.0.1:8080', orderId = `WEB-${Date.now()}`, customer = 'C1'] =
  process.argv.slice(2);
const token = process.env.PATRON_TOKEN;

async function call(method, path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const json = await res.json();
  if (!res.ok) {
    const e = json.error ?? {};
    throw new Error(`${method} ${path}: HTTP ${res.status} ${e.code}: ${e.message}`);
  }
  return json;
}

const money = (cents) => (cents / 100).toFixed(2);

const cart = {
  customer,
  order_id: orderId,
  lines: [
    { sku: 'MP3-01', qty: 1, unit_cents: 4999 },
    { sku: 'HP-07', qty: 1, unit_cents: 3999 },
  ],
};

try {
  const quote = await call('POST', '/v1/quote', cart);
  console.log(`quote: total ${money(quote.total_cents)} ${quote.currency}, ` +
              `earns ${quote.points_earned} points`);
  for (const d of quote.discounts) console.log(`  ${d.source}: -${money(d.cents)}`);

  const receipt = await call('POST', '/v1/commit',
                             { ...cart, expect_total_cents: quote.total_cents });
  console.log(`commit: order ${receipt.order_id} recorded, total ${money(receipt.total_cents)}, ` +
              `balance after ${receipt.balance_after}`);

  const b = await call('GET', `/v1/customers/${encodeURIComponent(customer)}/balance`);
  console.log(`balance: ${b.customer} has ${b.points} points (${b.spendable} spendable), ` +
              `tier ${b.tier}`);
} catch (err) {
  console.error(`node_client: ${err.message}`);
  process.exit(1);
}
