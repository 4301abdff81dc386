// The demo storefront: a shop page on the storefront API (/v1), nothing else.
// Plain ES module, no build step, no third-party code. Read it as a storefront's reference:
// a development token, stores, slots, a reservation, an idempotent order placement, live
// status over Server-Sent Events (ticket, then EventSource), cancel, and the order history.
// One file on purpose, in the order a checkout goes: with no bundler, a reader (or a storefront
// developer copying a part) finds each step here, under its heading, without chasing imports.

// Products the sandbox's catalog knows (sandbox/data.py), by UPC.
const PRODUCTS = [
  { upc: "041234100012", name: "Organic Bananas", size: "1 lb", hue: 48 },
  { upc: "041234100029", name: "Hass Avocados", size: "4 ct", hue: 95 },
  { upc: "041234100043", name: "Honeycrisp Apples", size: "3 lb bag", hue: 2 },
  { upc: "041234100081", name: "Large Brown Eggs", size: "12 ct", hue: 30 },
  { upc: "041234100074", name: "Whole Milk", size: "1 gal", hue: 205 },
  { upc: "041234100128", name: "Sourdough Bread", size: "24 oz", hue: 25 },
  { upc: "041234100159", name: "Ground Coffee", size: "12 oz", hue: 18 },
  { upc: "041234100210", name: "Sparkling Water, Lime", size: "12 pk", hue: 140 },
];
const STARTER_CART = { "041234100012": 2, "041234100081": 1, "041234100128": 1 };

// The statuses Instacart's workflows go through (the sandbox follows the same), per fulfillment.
const WORKFLOWS = {
  delivery: ["brand_new", "acknowledged", "picking", "delivering", "delivered"],
  pickup: ["brand_new", "acknowledged", "picking", "staging", "delivered"],
  last_mile: ["brand_new", "staging", "delivering", "delivered"],
};
const SLOT_DAYS = 3; // the first days with slots; enough for a demo, short enough to scan
const ENDED = new Set(["delivered", "completed", "canceled"]);
const FULFILLMENT_NAMES = { delivery: "Delivery", pickup: "Pickup", last_mile: "Last mile" };
const STATUS_TEXT = {
  brand_new: ["Order placed", "Your order is in. You can still cancel it."],
  acknowledged: ["Confirmed", "The store has your order."],
  picking: ["Shopping", "A shopper is picking your items."],
  checkout: ["At checkout", "Your shopper is paying for your items."],
  staging: ["Packing", "Your items are being packed."],
  staged: ["Ready", "Your order is packed and waiting."],
  delivering: ["On the way", "Your order is on its way to you."],
  delivered: ["Delivered", "Enjoy your groceries!"],
  completed: ["Completed", "Your order is complete."],
  canceled: ["Canceled", "This order was canceled."],
  rescheduled: ["Rescheduled", "Your order has a new time."],
};
const PICKUP_TEXT = {
  staging: ["Getting ready", "Your items are being packed for pickup."],
  delivered: ["Picked up", "Thanks for shopping with us!"],
};

const $ = (selector) => document.querySelector(selector);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
};

const state = {
  token: null,
  user: null,
  fulfillment: "delivery",
  where: null, // the location the stores were found for
  storeId: null,
  storeNames: new Map(), // store id -> name, to name the store of an order
  reservation: null,
  cart: new Map(Object.entries(STARTER_CART)),
  pending: null, // {fingerprint, key}: an order placement to retry with the same key
  tracking: null, // {orderId, source, ended, attempts, timer}
  orders: [],
  nextCursor: null,
};

// ---------------------------------------------------------------- the API and its problems

class Problem extends Error {
  constructor(body, status) {
    super(body.title || `HTTP ${status}`);
    this.body = { status, ...body };
    this.status = status;
    this.code = body.code;
  }
}

async function api(method, path, { body, headers = {}, retried = false } = {}) {
  const sent = { Accept: "application/json", ...headers };
  if (state.token) sent.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Problem(
      { title: "The service could not be reached", detail: "Check that it is running, then try again." },
      0,
    );
  }
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (res.ok) return { data, res };
  // A token past its expiry: sign in again as the same user, once.
  if (res.status === 401 && !retried && state.user && path.startsWith("/v1/")) {
    await signIn(state.user);
    return api(method, path, { body, headers, retried: true });
  }
  throw new Problem(data && typeof data === "object" ? data : { title: res.statusText }, res.status);
}

// The fields a problem can name, with the input that holds each and what a shopper calls it.
const FIELDS = {
  postal_code: ["#postal-code", "the postal code"],
  "address.postal_code": ["#postal-code", "the postal code"],
  address_line_1: ["#street", "the street address"],
  "address.address_line_1": ["#street", "the street address"],
  user: ["#user-name", "the name you shop as"],
  instructions: ["#instructions", "the notes for your shopper"],
};

// A field error's field without where it was sent ("query.postal_code": "postal_code").
const fieldOf = (error) => String(error.field || "").replace(/^(query|body|header)\./, "");

// What a shopper reads, per problem code (docs/errors.md); the API's own words, the code, the
// HTTP status and the request id (for whoever helps them) wait behind "Details".
const PICK_ANOTHER_TIME = "That time is no longer available. Please pick another.";
const HOLD_RAN_OUT = "Your hold on that time ran out. Please pick a time again.";
const SHOPPER_TEXT = {
  store_not_found: "That store is no longer available. Please choose another.",
  fulfillment_not_offered: "That store does not offer this here. Please choose another store or option.",
  slot_unavailable: "That time has just filled up. Please pick another.",
  slot_not_found: PICK_ANOTHER_TIME,
  slot_in_past: PICK_ANOTHER_TIME,
  slot_fulfillment_mismatch: PICK_ANOTHER_TIME,
  reservation_expired: HOLD_RAN_OUT,
  reservation_not_found: HOLD_RAN_OUT,
  reservation_used: "That time is already used by one of your orders. Please pick another.",
  order_not_cancelable: "This order can no longer be canceled: the store is already on it.",
  rate_limited: "That was a lot of tries at once. Please wait a moment and try again.",
  unauthenticated: "Please sign in again.",
};
const UNREACHABLE = "We cannot reach the store right now. Please try again in a moment.";

function shopperSentence(body) {
  const named = (body.errors || []).map((e) => FIELDS[fieldOf(e)]?.[1]).filter(Boolean);
  if (named.length) return `Please check ${[...new Set(named)].join(" and ")}.`;
  if (SHOPPER_TEXT[body.code]) return SHOPPER_TEXT[body.code];
  if (body.status === 0 || body.status >= 502) return UNREACHABLE; // 0: no answer at all
  if (body.status < 500) return "Please check what you entered and try again.";
  return "Something went wrong on our side. Please try again.";
}

function showProblem(error, doing) {
  const body = error instanceof Problem ? error.body : { title: "Something went wrong", detail: String(error) };
  $("#problem-title").textContent = shopperSentence(body);
  const said = [doing && `${doing}: ${body.title}`, body.detail !== body.title && body.detail];
  $("#problem-detail").textContent = said.filter(Boolean).join(". ");
  const list = $("#problem-errors");
  list.replaceChildren(
    ...(body.errors || []).map((e) =>
      el("li", {}, el("code", {}, e.field || "request"), " ", e.message || "is not valid"),
    ),
  );
  for (const e of body.errors || []) {
    const input = FIELDS[fieldOf(e)] && $(FIELDS[fieldOf(e)][0]);
    if (input) input.setAttribute("aria-invalid", "true");
  }
  const meta = [body.status ? `HTTP ${body.status}` : null, body.code, body.request_id && `request ${body.request_id}`];
  $("#problem-meta").textContent = meta.filter(Boolean).join(" · ");
  // A problem's type is the service's own page on its code: what it means, what to do.
  if (body.type) $("#problem-meta").append(" · ", el("a", { href: body.type, target: "_blank", rel: "noopener" }, "what to do"));
  $("#problem-details").open = false;
  $("#problem").dataset.code = body.code || "";
  $("#problem").hidden = false;
}

function clearProblem() {
  $("#problem").hidden = true;
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// Runs a user action: clears the last message, disables the button meanwhile, shows a problem.
async function action(button, doing, run) {
  clearProblem();
  if (button) button.disabled = true;
  try {
    return await run();
  } catch (error) {
    showProblem(error, doing);
    return undefined;
  } finally {
    if (button) button.disabled = false;
    renderCart();
  }
}

// ---------------------------------------------------------------- formatting

// A slot is at the store's time, whatever the browser's zone: a shopper in London picking up in
// San Francisco at 8 AM must read 8 AM. `zone` is the slot's time_zone (null: the browser's).
const formats = new Map();
function formatIn(zone, options) {
  const key = `${zone}|${JSON.stringify(options)}`;
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(undefined, { ...options, timeZone: zone || undefined }));
  return formats.get(key);
}
const TIME = { hour: "numeric", minute: "2-digit" };
const DAY = { weekday: "short", month: "short", day: "numeric" };
const fmtTime = (iso, zone) => (iso ? formatIn(zone, TIME).format(new Date(iso)) : "");
const fmtDay = (iso, zone) => (iso ? formatIn(zone, DAY).format(new Date(iso)) : "");
// "8:00 AM – 10:00 AM PST": the zone is named once, after the end.
const fmtWindow = (slot) =>
  `${fmtTime(slot.starts_at, slot.time_zone)} – ` +
  formatIn(slot.time_zone, { ...TIME, timeZoneName: "short" }).format(new Date(slot.ends_at));
const fmtSlot = (slot) => (slot ? `${fmtDay(slot.starts_at, slot.time_zone)}, ${fmtWindow(slot)}` : "");

function statusText(status, fulfillment) {
  const own = fulfillment === "pickup" ? PICKUP_TEXT[status] : undefined;
  return own || STATUS_TEXT[status] || [status.replaceAll("_", " "), ""];
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context (https or localhost); a LAN address over http has not.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---------------------------------------------------------------- signing in

async function signIn(user) {
  const res = await fetch("/demo/token", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ user }),
  }).catch(() => null);
  if (!res) throw new Problem({ title: "The service could not be reached" }, 0);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Problem(data, res.status);
  state.token = data.token;
  state.user = data.user_id;
  sessionStorage.setItem("demo-user", state.user);
  $("#signin-state").textContent = `Signed in as ${state.user}`;
}

async function switchUser(event) {
  event.preventDefault();
  const user = $("#user-name").value.trim();
  await action(event.submitter, "Signing in", async () => {
    await signIn(user);
    stopFollowing();
    $("#tracker").hidden = true;
    state.reservation = null;
    state.pending = null;
    renderHold();
    await loadOrders();
  });
}

// ---------------------------------------------------------------- stores and slots

function whereFromForm() {
  const where = { postal_code: $("#postal-code").value.trim() };
  const street = $("#street").value.trim();
  if (state.fulfillment !== "pickup" && street) where.address_line_1 = street;
  return where;
}

function setFulfillment(value) {
  state.fulfillment = value;
  $("#street-field").hidden = value === "pickup";
  state.storeId = null;
  state.reservation = null;
  $("#stores").replaceChildren(el("p", { class: "empty" }, "Find the stores near you first."));
  $("#slots").replaceChildren(el("p", { class: "empty" }, "Choose a store to see its time slots."));
  renderHold();
  renderCart();
}

async function findStores(event) {
  event.preventDefault();
  await action($("#find-stores"), "Finding stores", async () => {
    const where = whereFromForm();
    const query = new URLSearchParams({ fulfillment: state.fulfillment, ...where });
    const { data } = await api("GET", `/v1/stores?${query}`);
    state.where = where;
    state.storeId = null;
    state.reservation = null;
    renderHold();
    $("#slots").replaceChildren(el("p", { class: "empty" }, "Choose a store to see its time slots."));
    const box = $("#stores");
    if (!data.stores.length) {
      box.replaceChildren(
        el("p", { class: "empty" }, `No store offers ${FULFILLMENT_NAMES[state.fulfillment].toLowerCase()} there yet.`),
      );
      return;
    }
    for (const store of data.stores) if (store.name) state.storeNames.set(store.id, store.name);
    box.replaceChildren(
      ...data.stores.map((store) =>
        el(
          "label",
          { class: "store", dataset: { storeId: store.id } },
          el("input", { type: "radio", name: "store", value: store.id, onchange: () => chooseStore(store) }),
          el("span", { class: "store-name" }, store.name || store.id),
          el(
            "span",
            { class: "store-address" },
            [store.address?.address_line_1, store.address?.city].filter(Boolean).join(", "),
          ),
          store.distance != null ? el("span", { class: "store-distance" }, `${store.distance.toFixed(1)} mi`) : null,
        ),
      ),
    );
  });
}

async function chooseStore(store) {
  state.storeId = store.id;
  state.reservation = null;
  renderHold();
  const box = $("#slots");
  box.setAttribute("aria-busy", "true");
  box.replaceChildren(el("p", { class: "empty" }, "Looking for time slots…"));
  await action(null, "Loading time slots", async () => {
    const query = new URLSearchParams({ fulfillment: state.fulfillment });
    if (state.fulfillment !== "pickup") for (const [k, v] of Object.entries(state.where)) query.set(k, v);
    const { data } = await api("GET", `/v1/stores/${encodeURIComponent(store.id)}/slots?${query}`);
    renderSlots(data.slots);
  });
  box.setAttribute("aria-busy", "false");
}

function renderSlots(slots) {
  const box = $("#slots");
  if (!slots.length) {
    box.replaceChildren(el("p", { class: "empty" }, "No time slots left at this store. Try another."));
    return;
  }
  const days = new Map();
  for (const slot of slots) {
    const day = fmtDay(slot.starts_at, slot.time_zone);
    if (!days.has(day)) days.set(day, []);
    days.get(day).push(slot);
  }
  box.replaceChildren(
    ...[...days].slice(0, SLOT_DAYS).map(([day, list]) =>
      el(
        "div",
        { class: "slot-day", role: "group", "aria-label": day },
        el("h3", {}, day),
        el(
          "div",
          { class: "slot-row" },
          ...list.map((slot) =>
            el(
              "button",
              {
                type: "button",
                class: "slot",
                "aria-pressed": "false",
                dataset: { slotId: slot.id },
                onclick: (event) => reserve(slot, event.currentTarget),
              },
              fmtWindow(slot),
            ),
          ),
        ),
      ),
    ),
  );
}

async function reserve(slot, button) {
  await action(button, "Reserving the time slot", async () => {
    const body = { fulfillment: state.fulfillment, store_id: state.storeId, slot_id: slot.id };
    if (state.fulfillment !== "pickup") body.address = state.where;
    const { data } = await api("POST", "/v1/reservations", { body });
    state.reservation = data;
    for (const other of document.querySelectorAll(".slot")) other.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-pressed", "true");
    renderHold();
  }).then(() => {
    if (state.reservation?.slot?.id !== slot.id) button.setAttribute("aria-pressed", "false");
  });
}

let holdTimer = null;
function renderHold() {
  const hold = $("#hold");
  clearInterval(holdTimer);
  const reservation = state.reservation;
  if (!reservation) {
    hold.hidden = true;
    hold.textContent = "";
    return;
  }
  const update = () => {
    const left = Math.max(0, Math.round((new Date(reservation.expires_at) - Date.now()) / 1000));
    const mm = Math.floor(left / 60);
    const ss = String(left % 60).padStart(2, "0");
    hold.textContent = `Held for you: ${fmtSlot(reservation.slot)}. ${mm}:${ss} left to place your order.`;
  };
  update();
  hold.hidden = false;
  holdTimer = setInterval(update, 1000);
}

// ---------------------------------------------------------------- the cart and placing the order

function renderProducts() {
  $("#products").replaceChildren(
    ...PRODUCTS.map((p) => {
      const qty = el("span", { class: "qty", "aria-live": "polite", id: `qty-${p.upc}` }, "0");
      const label = `${p.name}, ${p.size}`;
      const thumb = el("span", { class: "thumb", "aria-hidden": "true" }, p.name[0]);
      thumb.style.setProperty("--hue", p.hue); // CSSOM, since the page's CSP forbids style=""
      return el(
        "li",
        { class: "product", dataset: { upc: p.upc } },
        thumb,
        el("span", { class: "product-name" }, p.name, el("small", {}, p.size)),
        el(
          "span",
          { class: "stepper" },
          el("button", { type: "button", class: "step-btn", "aria-label": `One less ${label}`, onclick: () => bump(p.upc, -1) }, "−"),
          qty,
          el("button", { type: "button", class: "step-btn", "aria-label": `One more ${label}`, onclick: () => bump(p.upc, 1) }, "+"),
        ),
      );
    }),
  );
}

function bump(upc, delta) {
  const next = Math.max(0, Math.min(99, (state.cart.get(upc) || 0) + delta));
  if (next) state.cart.set(upc, next);
  else state.cart.delete(upc);
  renderCart();
}

function orderBody() {
  const body = {
    reservation_id: state.reservation.id,
    items: [...state.cart].map(([upc, quantity]) => ({ upc, quantity })),
  };
  if (state.reservation.fulfillment !== "pickup") body.address = state.where;
  const instructions = $("#instructions").value.trim();
  if (instructions) body.instructions = instructions;
  return body;
}

function renderCart() {
  for (const p of PRODUCTS) {
    const node = document.getElementById(`qty-${p.upc}`);
    if (node) node.textContent = String(state.cart.get(p.upc) || 0);
  }
  const units = [...state.cart.values()].reduce((a, b) => a + b, 0);
  $("#cart-summary").textContent = units ? `${units} item${units === 1 ? "" : "s"}` : "Your cart is empty.";
  const place = $("#place");
  const ready = Boolean(state.reservation) && units > 0;
  place.disabled = !ready;
  const retrying = ready && state.pending && state.pending.fingerprint === JSON.stringify(orderBody());
  place.textContent = retrying ? "Try again" : "Place order";
  $("#place-hint").textContent = !state.reservation
    ? "Reserve a time slot to place your order."
    : !units
      ? "Add something to your cart."
      : retrying
        ? "Trying again is safe: it sends the same order with the same Idempotency-Key."
        : `${FULFILLMENT_NAMES[state.reservation.fulfillment]}, ${fmtSlot(state.reservation.slot)}`;
}

async function placeOrder() {
  const body = orderBody();
  const fingerprint = JSON.stringify(body);
  // One key per order: a retry of the same order (a timeout, a lost answer) sends the same key,
  // so the service answers the first result again instead of placing a second order.
  if (!state.pending || state.pending.fingerprint !== fingerprint) {
    state.pending = { fingerprint, key: newKey() };
  }
  await action($("#place"), "Placing the order", async () => {
    const { data, res } = await api("POST", "/v1/orders", {
      body,
      headers: { "Idempotency-Key": state.pending.key },
    });
    state.pending = null;
    state.reservation = null;
    state.cart.clear(); // ordered: the next order starts from an empty cart
    renderHold();
    for (const slot of document.querySelectorAll(".slot")) slot.setAttribute("aria-pressed", "false");
    $("#instructions").value = "";
    const replayed = res.headers.get("Idempotent-Replayed") === "true";
    await follow(data, replayed ? "This order had already been placed: here it is again." : "");
    await loadOrders();
  }).then(() => {
    const code = $("#problem").hidden ? null : $("#problem").dataset.code;
    // The hold is gone: a new slot is needed, and with it a new order (and a new key).
    if (HOLD_GONE.has(code)) {
      state.reservation = null;
      state.pending = null;
      renderHold();
      renderCart();
    }
  });
}

// The problem codes after which the held slot cannot be ordered (docs/errors.md).
const HOLD_GONE = new Set([
  "reservation_expired",
  "reservation_not_found",
  "reservation_used",
  "slot_unavailable",
]);

// ---------------------------------------------------------------- live status

function stopFollowing() {
  const t = state.tracking;
  if (!t) return;
  t.ended = true;
  clearTimeout(t.timer);
  t.source?.close();
  state.tracking = null;
}

async function follow(order, note = "") {
  stopFollowing();
  const t = { orderId: order.id, source: null, ended: false, attempts: 0, timer: null, last: null };
  state.tracking = t;
  $("#timeline").replaceChildren();
  $("#tracker").hidden = false;
  renderOrder(order);
  if (note) $("#tracked-when").textContent = note;
  if (ENDED.has(order.status)) {
    t.ended = true;
    setStreamState("ended", "No more updates");
    return;
  }
  await openStream(t);
}

async function openStream(t) {
  if (t !== state.tracking || t.ended) return;
  setStreamState("connecting", "Connecting…");
  let ticket;
  try {
    // EventSource cannot send an Authorization header: a single-use ticket goes in the URL.
    ({ data: { ticket } } = await api("POST", `/v1/orders/${encodeURIComponent(t.orderId)}/events/ticket`));
  } catch (error) {
    if (error instanceof Problem && error.status === 404) {
      showProblem(error, "Following the order");
      setStreamState("ended", "Not following");
      return;
    }
    scheduleReconnect(t);
    return;
  }
  if (t !== state.tracking || t.ended) return;
  const url = `/v1/orders/${encodeURIComponent(t.orderId)}/events?ticket=${encodeURIComponent(ticket)}`;
  const source = new EventSource(url);
  t.source = source;
  source.addEventListener("open", () => {
    t.attempts = 0;
    setStreamState("live", "Live");
  });
  source.addEventListener("status", (event) => {
    if (t !== state.tracking) return;
    const order = JSON.parse(event.data);
    renderOrder(order);
    if (ENDED.has(order.status)) {
      t.ended = true;
      source.close();
      setStreamState("ended", "No more updates");
    }
  });
  source.addEventListener("error", () => {
    // The ticket is spent, so EventSource's own reconnect would be refused: close it and
    // follow on with a fresh ticket (the new stream starts with the order as it is then).
    source.close();
    if (!t.ended && t === state.tracking) scheduleReconnect(t);
  });
}

function scheduleReconnect(t) {
  t.attempts += 1;
  const delay = Math.min(10_000, 1000 * 2 ** (t.attempts - 1));
  setStreamState("reconnecting", `Reconnecting in ${Math.round(delay / 1000)} s…`);
  t.timer = setTimeout(() => openStream(t), delay);
}

function setStreamState(name, text) {
  const node = $("#stream-state");
  node.dataset.state = name;
  node.textContent = text;
}

function renderOrder(order) {
  const t = state.tracking;
  if (t && t.orderId === order.id) {
    const [title, line] = statusText(order.status, order.fulfillment);
    // The id is for whoever helps the shopper: in "Order details", and on the tracker's data.
    $("#tracked-id").textContent = order.id;
    $("#tracker").dataset.orderId = order.id;
    const live = $("#live-status");
    live.dataset.status = order.status;
    live.replaceChildren(el("strong", {}, title), line ? ` ${line}` : "");
    $("#tracked-when").textContent = [
      orderWhere(order),
      fmtSlot(order.slot),
      `${order.items.reduce((a, i) => a + i.quantity, 0)} items`,
    ].join(" · ");
    renderProgress(order);
    if (t.last !== order.status) {
      t.last = order.status;
      $("#timeline").append(
        el("li", { dataset: { status: order.status } }, el("time", {}, fmtTime(order.updated_at)), " ", title),
      );
    }
    const cancel = $("#cancel");
    cancel.hidden = !order.cancelable;
    cancel.dataset.orderId = order.id;
  }
  const index = state.orders.findIndex((o) => o.id === order.id);
  if (index >= 0) {
    state.orders[index] = order;
    renderOrders();
  }
}

// "Pickup at Bayside Market Mission": the store by name when this page has seen it.
function orderWhere(order) {
  const how = FULFILLMENT_NAMES[order.fulfillment] || order.fulfillment;
  const store = state.storeNames.get(order.store_id);
  return store ? `${how} at ${store}` : how;
}

function renderProgress(order) {
  const steps = WORKFLOWS[order.fulfillment] || [];
  const at = steps.indexOf(order.status);
  const canceled = order.status === "canceled";
  $("#progress").replaceChildren(
    ...steps.map((status, i) => {
      const done = !canceled && at >= 0 && i <= at;
      return el(
        "li",
        {
          class: done ? (i === at ? "current" : "done") : "",
          "aria-current": i === at && !canceled ? "step" : undefined,
        },
        statusText(status, order.fulfillment)[0],
      );
    }),
  );
  $("#progress").classList.toggle("canceled", canceled);
}

async function cancelOrder() {
  const orderId = $("#cancel").dataset.orderId;
  await action($("#cancel"), "Canceling the order", async () => {
    const { data } = await api("POST", `/v1/orders/${encodeURIComponent(orderId)}/cancel`);
    renderOrder(data);
    if (state.tracking?.orderId === data.id && ENDED.has(data.status)) stopAfterEnd();
  });
}

function stopAfterEnd() {
  const t = state.tracking;
  t.ended = true;
  clearTimeout(t.timer);
  t.source?.close();
  setStreamState("ended", "No more updates");
}

// ---------------------------------------------------------------- order history

async function loadOrders(more = false) {
  const query = new URLSearchParams({ limit: "5" });
  if (more && state.nextCursor) query.set("cursor", state.nextCursor);
  const { data } = await api("GET", `/v1/orders?${query}`);
  state.orders = more ? [...state.orders, ...data.orders] : data.orders;
  state.nextCursor = data.next_cursor;
  renderOrders();
}

function renderOrders() {
  const list = $("#orders");
  $("#more-orders").hidden = !state.nextCursor;
  if (!state.orders.length) {
    list.replaceChildren(el("li", { class: "empty" }, "No orders yet."));
    return;
  }
  list.replaceChildren(
    ...state.orders.map((order) => {
      const [title] = statusText(order.status, order.fulfillment);
      const following = state.tracking?.orderId === order.id;
      const label = following ? "Following" : "Follow";
      return el(
        "li",
        { class: "order", dataset: { orderId: order.id } },
        el(
          "div",
          { class: "order-main" },
          el("span", { class: "order-where" }, orderWhere(order)),
          el("span", { class: `pill status-${order.status}` }, title),
        ),
        el("div", { class: "order-sub" }, fmtSlot(order.slot)),
        el(
          "button",
          {
            type: "button",
            class: "ghost small",
            // The name starts with the visible word, as speech control users say it.
            "aria-label": `${label} the order: ${orderWhere(order)}, ${fmtSlot(order.slot)}`,
            disabled: following,
            onclick: () => action(null, "Following the order", () => follow(order)),
          },
          label,
        ),
      );
    }),
  );
}

// ---------------------------------------------------------------- start

async function start() {
  renderProducts();
  renderCart();
  $("#signin").addEventListener("submit", switchUser);
  $("#where").addEventListener("submit", findStores);
  $("#place").addEventListener("click", placeOrder);
  $("#cancel").addEventListener("click", cancelOrder);
  $("#problem-dismiss").addEventListener("click", clearProblem);
  $("#refresh-orders").addEventListener("click", (e) => action(e.currentTarget, "Loading your orders", () => loadOrders()));
  $("#more-orders").addEventListener("click", (e) => action(e.currentTarget, "Loading your orders", () => loadOrders(true)));
  $("#instructions").addEventListener("input", renderCart);
  for (const radio of document.querySelectorAll('input[name="fulfillment"]')) {
    radio.addEventListener("change", () => setFulfillment(radio.value));
  }
  const user = sessionStorage.getItem("demo-user") || "alice";
  $("#user-name").value = user;
  await action(null, "Signing in", async () => {
    await signIn(user);
    await loadOrders();
  });
  document.body.dataset.ready = "true";
}

start();
