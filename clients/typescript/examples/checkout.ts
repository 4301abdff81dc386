// A typed checkout with openapi-fetch: the README's example, type-checked by the drift test.
import createClient from "openapi-fetch";
import type { components, paths } from "../src/bff";
import { slotWindow } from "./store_time";

type Slot = components["schemas"]["Slot"];
type Order = components["schemas"]["Order"];

export function bffClient(baseUrl: string, token: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}

export async function deliverySlots(
  bff: ReturnType<typeof bffClient>,
  storeId: string,
): Promise<Slot[]> {
  const { data, error } = await bff.GET("/v1/stores/{store_id}/slots", {
    params: {
      path: { store_id: storeId },
      query: { fulfillment: "delivery", postal_code: "94105", address_line_1: "101 Spear St" },
    },
  });
  if (error) throw new Error(`${error.code}: ${error.detail}`); // error is a Problem
  return data.slots;
}

// What a shopper reads on a slot's button: the store's own time (examples/store_time.ts).
export const slotLabels = (slots: Slot[]): string[] => slots.map((slot) => slotWindow(slot));

export async function placeOrder(
  bff: ReturnType<typeof bffClient>,
  slot: Slot,
  storeId: string,
): Promise<Order> {
  const held = await bff.POST("/v1/reservations", {
    body: { fulfillment: "delivery", store_id: storeId, slot_id: slot.id },
  });
  if (held.error) throw new Error(`${held.error.code}: ${held.error.detail}`);
  const { data, error } = await bff.POST("/v1/orders", {
    // One key per checkout attempt: retrying with the same key and body never orders twice.
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: {
      reservation_id: held.data.id,
      items: [{ upc: "041234100012", quantity: 3 }, { product_id: "1001", quantity: 1 }],
      address: { address_line_1: "101 Spear St", city: "San Francisco", postal_code: "94105" },
      instructions: "Leave at the front desk",
    },
  });
  if (error) throw new Error(`${error.code}: ${error.detail}`);
  return data;
}
