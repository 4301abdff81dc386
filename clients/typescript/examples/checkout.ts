// A storefront's checkout end to end with the typed client (src/client.ts): a store near a San
// Francisco address, one of its delivery slots, a hold, the order placed once whatever the
// retries, then the order read back with its slot at the store's local time.
//
//   npm run example                                   against scripts/run (port 8080)
//   BFF_URL=http://127.0.0.1:9000 BFF_TOKEN=<jwt> npm run example
//
// Without BFF_TOKEN it signs in as a new user with a development token (POST /demo/token),
// which the service hands out only in development with its development secret, as scripts/run
// runs it. Prints the order's id on a line of its own: `order <id>`.
import {
  type BffClient,
  BffProblem,
  createBffClient,
  idempotencyHeader,
  newIdempotencyKey,
  ok,
  type Order,
  type Reservation,
} from "../src/client.js";
import { statusLabel } from "./order_status.js";
import { slotWindow } from "./store_time.js";

const baseUrl = process.env.BFF_URL ?? `http://127.0.0.1:${process.env.BFF_PORT ?? "8080"}`;
const near = { postal_code: "94105", address_line_1: "101 Spear St" };
const address = { ...near, city: "San Francisco", state: "CA" };
// Two products, one line each: a line names its product by UPC or by product id, never both,
// and no product is on two lines (the sandbox's UPC 041234100012 is product 1001, so naming
// 1001 again on another line would order the bananas twice).
const cart = [
  { upc: "041234100012", quantity: 3 }, // Organic Bananas, 1 lb
  { product_id: "1002", quantity: 1 }, // Hass Avocados, 4 ct
];

async function developmentToken(user: string): Promise<string> {
  const answer = await fetch(`${baseUrl}/demo/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user }),
  });
  if (!answer.ok) {
    throw new Error(`POST /demo/token answered ${answer.status}: set BFF_TOKEN to a user's JWT`);
  }
  return ((await answer.json()) as { token: string }).token;
}

// A busy service says when to come back (BffProblem.retryable, retryAfter): a few tries ride
// out a busy moment. Safe for every call here: a new hold replaces the user's previous one, and
// an order is resent with the same Idempotency-Key.
async function patiently<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof BffProblem && error.retryable) || attempt === 4) throw error;
      await new Promise((wake) => setTimeout(wake, (error.retryAfter ?? 1) * 1000));
    }
  }
}

// Slots fill up between listing and holding: a full one (409 slot_unavailable) means the next.
async function holdASlot(bff: BffClient, storeId: string): Promise<Reservation> {
  const { slots } = await patiently(() =>
    ok(
      bff.GET("/v1/stores/{store_id}/slots", {
        params: { path: { store_id: storeId }, query: { fulfillment: "delivery", ...near } },
      }),
    ),
  );
  for (const slot of slots) {
    try {
      return await patiently(() =>
        ok(
          bff.POST("/v1/reservations", {
            body: { fulfillment: "delivery", store_id: storeId, slot_id: slot.id },
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof BffProblem && error.is("slot_unavailable", "slot_in_past"))) {
        throw error;
      }
    }
  }
  throw new Error(`store ${storeId} has no free delivery slot`);
}

// One checkout attempt, one key, made before the first try: every retry sends the same key, and
// the service answers the order Instacart has (never a second one).
async function placeOnce(bff: BffClient, reservationId: string): Promise<Order> {
  const key = newIdempotencyKey();
  return patiently(() =>
    ok(
      bff.POST("/v1/orders", {
        params: { header: idempotencyHeader(key) },
        body: { reservation_id: reservationId, items: cart, address },
      }),
    ),
  );
}

async function main(): Promise<void> {
  const user = `ts-example-${crypto.randomUUID().slice(0, 8)}`;
  const token = process.env.BFF_TOKEN ?? (await developmentToken(user));
  if (!process.env.BFF_TOKEN) console.log(`user    ${user}`);
  const bff = createBffClient({ baseUrl, token });

  const { stores } = await patiently(() =>
    ok(bff.GET("/v1/stores", { params: { query: { fulfillment: "delivery", ...near } } })),
  );
  const store = stores[0];
  if (!store) throw new Error("no store delivers near 94105");
  console.log(`store   ${store.id} ${store.name ?? ""} (${store.time_zone ?? "zone unknown"})`);

  const held = await holdASlot(bff, store.id);
  const placed = await placeOnce(bff, held.id);
  const order = await patiently(() =>
    ok(bff.GET("/v1/orders/{order_id}", { params: { path: { order_id: placed.id } } })),
  );
  console.log(`order   ${order.id}`);
  console.log(`status  ${statusLabel(order.status)} (${order.status})`);
  if (order.slot) console.log(`slot    ${slotWindow(order.slot)}`);
  const lines = order.items.map((item) => `${item.quantity} x ${item.name ?? item.upc ?? item.product_id}`);
  console.log(`items   ${lines.join("; ")}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof BffProblem ? `${error.message} (${error.problem.type})` : error);
  process.exitCode = 1;
});
