// A slot as the store's clock reads it: a storefront shows the store's 8 AM as 8 AM wherever the
// shopper's device is (a phone set to London, looking at a San Francisco store, included).
import type { components } from "../src/bff.js";

type Slot = components["schemas"]["Slot"];

// "Fri, Dec 5, 8:00 AM – 10:00 AM PST". The slot's time_zone is the store's; when the service
// knows none (null), the device's zone is the best left, and the zone's name says which it is.
export function slotWindow(slot: Slot, locale = "en-US"): string {
  if (!slot.starts_at || !slot.ends_at) return slot.date ?? "";
  const timeZone = slot.time_zone ?? undefined;
  const day = new Intl.DateTimeFormat(locale, { weekday: "short", month: "short", day: "numeric", timeZone });
  const time = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", timeZone });
  const end = new Intl.DateTimeFormat(locale, {
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
    timeZone,
  });
  const [starts, ends] = [new Date(slot.starts_at), new Date(slot.ends_at)];
  return `${day.format(starts)}, ${time.format(starts)} – ${end.format(ends)}`;
}
