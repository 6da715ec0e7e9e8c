/**
 * The client the suite drives: openapi-fetch over the types openapi-typescript generated from
 * the server's OpenAPI document (src/schema.d.ts), configured from the environment so the same
 * suite runs against any server.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type Schemas = components["schemas"];
export type SettingsClient = Client<paths>;

/** A variable the suite cannot run without; a clear error names it when it is missing. */
export function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`set ${name}: the TypeScript suite needs it (see clients/typescript/README.md)`);
  }
  return value;
}

/** Every request with a body says it is JSON, whatever the library's default. */
const jsonBodies: Middleware = {
  onRequest({ request }) {
    if (request.body !== null && !request.headers.has("Content-Type")) {
      request.headers.set("Content-Type", "application/json");
    }
    return request;
  },
};

/** A client of AGENT_SERVER_URL, sending X-Session-API-Key when AGENT_SERVER_API_KEY is set. */
export function settingsClient(): SettingsClient {
  const apiKey = process.env.AGENT_SERVER_API_KEY;
  const client = createClient<paths>({
    baseUrl: required("AGENT_SERVER_URL"),
    headers: apiKey ? { "X-Session-API-Key": apiKey } : {},
  });
  client.use(jsonBodies);
  return client;
}
