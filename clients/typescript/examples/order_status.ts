// What a shopper reads for an order's status. The switch covers every status the document
// lists: when a newer document adds one, `npm run typecheck` fails here until it has a case.
// The list is open (Instacart adds statuses), so at run time a status newer than these types
// lands in `default`, shown as an order in progress; `cancelable` still says what it allows.
import type { OrderStatus } from "../src/client.js";

export function statusLabel(status: OrderStatus): string {
  switch (status) {
    case "brand_new":
      return "Placed";
    case "acknowledged":
      return "A shopper has taken your order";
    case "picking":
      return "Your items are being picked";
    case "checkout":
      return "Your items are being paid for";
    case "staging":
      return "Your items are being bagged";
    case "staged":
      return "Ready at the store";
    case "delivering":
      return "On its way";
    case "delivered":
      return "Delivered";
    case "completed":
      return "Completed";
    case "canceled":
      return "Canceled";
    case "rescheduled":
      return "Moved to another time";
    default: {
      // `never` while every listed status has a case: the compiler names one that has none.
      const unlisted: never = status;
      void unlisted;
      return "In progress";
    }
  }
}
