// A typed client of the checkout BFF: openapi-fetch over the types generated from
// openapi/bff.json, with the user's bearer token on every request, an Idempotency-Key helper,
// and error answers thrown as a BffProblem whose `code` is one of the service's error codes.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./bff.js";

export type { components, paths };
type Schemas = components["schemas"];
export type Store = Schemas["Store"];
export type Slot = Schemas["Slot"];
export type Reservation = Schemas["Reservation"];
export type Order = Schemas["Order"];
export type OrderStatus = Schemas["OrderStatus"];
export type Problem = Schemas["Problem"];
export type ProblemCode = Schemas["ProblemCode"];

export type BffClient = Client<paths>;

export interface BffOptions {
  /** Where the service is, e.g. "https://shop.example.com" (no trailing path). */
  baseUrl: string;
  /** The user's JWT, or a function giving a current one (asked before every request). */
  token: string | (() => string | Promise<string>);
  /** Another fetch (tests, instrumentation); the global one by default. */
  fetch?: typeof globalThis.fetch;
}

/** An openapi-fetch client of the service: paths, parameters, bodies and answers typed. */
export function createBffClient(options: BffOptions): BffClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl, fetch: options.fetch });
  const bearer: Middleware = {
    async onRequest({ request }) {
      const token = typeof options.token === "function" ? await options.token() : options.token;
      request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  };
  client.use(bearer);
  return client;
}

/**
 * A key for one checkout attempt. Keep it with the attempt and send the same key when retrying
 * it (after a timeout, a 503 or a 504): the service then answers the first outcome and never
 * orders twice. A new attempt (another cart, another slot) gets a new key.
 */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/** The header parameter of POST /v1/orders for `key`. */
export function idempotencyHeader(key: string): { "Idempotency-Key": string } {
  return { "Idempotency-Key": key };
}

/** An error answer of the service (application/problem+json), thrown by `ok`. */
export class BffProblem extends Error {
  readonly problem: Problem;
  readonly status: number;
  /** Branch on this: every code is in ProblemCode, with what to do about it. */
  readonly code: ProblemCode;
  /** Seconds to wait before retrying (429 and 503), when the service said. */
  readonly retryAfter: number | undefined;

  constructor(problem: Problem, response: Response) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.name = "BffProblem";
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    this.retryAfter = Number.isNaN(retryAfter) ? undefined : retryAfter;
  }

  /**
   * Whether the same request may simply be sent again, after `retryAfter` seconds: the service
   * was busy or could not reach a dependency (429, 503), Instacart was slow (504), or the same
   * order is still being placed (409 request_in_progress). Resend an order with the same key.
   */
  get retryable(): boolean {
    return [429, 503, 504].includes(this.status) || this.code === "request_in_progress";
  }

  /** Whether the problem has one of `codes`; narrows `code` to them. */
  is<C extends ProblemCode>(...codes: C[]): this is BffProblem & { code: C } {
    return (codes as ProblemCode[]).includes(this.code);
  }
}

// What a gateway in front of the service might answer instead of a problem (an HTML 502 page).
function asProblem(error: unknown, response: Response): Problem {
  if (typeof error === "object" && error !== null && "code" in error && "status" in error) {
    return error as Problem;
  }
  return {
    type: "about:blank",
    title: response.statusText || "Error",
    status: response.status,
    detail: typeof error === "string" ? error.slice(0, 200) : `HTTP ${response.status}`,
    code: "http_error",
  };
}

type Answer<T> = { data: T; error?: never; response: Response } | {
  data?: never;
  error: unknown;
  response: Response;
};

/**
 * The answer's body, or a BffProblem thrown for an error answer: `await ok(bff.GET(...))`.
 * For answers with a body: a 304 (after If-None-Match) or a 204 has none, and is an Error here.
 */
export async function ok<T>(call: Promise<Answer<T>>): Promise<Exclude<T, undefined>> {
  const answer = await call;
  if (answer.error !== undefined) {
    throw new BffProblem(asProblem(answer.error, answer.response), answer.response);
  }
  if (answer.data === undefined) {
    throw new Error(`the answer (${answer.response.status}) has no body`);
  }
  return answer.data as Exclude<T, undefined>;
}
