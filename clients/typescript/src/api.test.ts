/**
 * The generated TypeScript client against a live server started with --require-preconditions:
 * every route, the conditional requests, the expose modes and the error bodies.
 *
 * Bodies carry only the fields they mean: a request type that demanded more (or nulls) would
 * stop this file from compiling under `tsc --strict`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { required, settingsClient, type Schemas } from "./client.js";

const MASK = "**********";
const SECRET = "canary-typescript-4f1e";
/** Stored servers that the catalog tries and that fail at once. */
const NEVER_RUN = "/nonexistent/ts-never-run";
const client = settingsClient();
/** A stdio MCP server for the live checks: {"command": ..., "args": [...]}. */
const mcpServer = JSON.parse(required("AGENT_SERVER_TEST_MCP")) as { command: string; args: string[] };

const ITEM = "/api/settings/mcp-servers/{name}";

async function create(name: string, config: Schemas["StdioServerConfig"]): Promise<string> {
  const { data, response } = await client.PUT(ITEM, {
    params: { path: { name }, header: { "If-None-Match": "*" } },
    body: config,
  });
  assert.equal(response.status, 201);
  assert.ok(data);
  return data.etag;
}

async function etagOf(name: string): Promise<string> {
  const { data } = await client.GET(ITEM, { params: { path: { name } } });
  assert.ok(data);
  return data.etag;
}

test("the list answers its ETag and 304 for If-None-Match", async () => {
  await create("ts-list", { command: NEVER_RUN });
  const { data, response } = await client.GET("/api/settings/mcp-servers");
  assert.equal(response.status, 200);
  assert.ok(data);
  assert.equal(data.etag, response.headers.get("ETag"));
  const summary = data.servers.find((s) => s.name === "ts-list");
  assert.equal(summary?.transport_kind, "stdio");
  assert.equal(summary?.enabled, true);

  const again = await client.GET("/api/settings/mcp-servers", {
    params: { header: { "If-None-Match": data.etag } },
  });
  assert.equal(again.response.status, 304);
  assert.equal(again.data, undefined);
  assert.equal(again.response.headers.get("ETag"), data.etag);

  const failed = await client.GET("/api/settings/mcp-servers", {
    params: { header: { "If-Match": '"stale"' } },
  });
  assert.equal(failed.response.status, 412);
  assert.equal(typeof failed.error?.detail, "string");
});

test("create with If-None-Match: * answers 201 with Location, then 412 with the ETag", async () => {
  const etag = await create("ts-create", { command: NEVER_RUN, env: { TOKEN: SECRET } });
  const again = await client.PUT(ITEM, {
    params: { path: { name: "ts-create" }, header: { "If-None-Match": "*" } },
    body: { command: NEVER_RUN },
  });
  assert.equal(again.response.status, 412);
  assert.equal(again.response.headers.get("ETag"), etag);

  const remote = await client.PUT(ITEM, {
    params: { path: { name: "ts-remote" }, header: { "If-None-Match": "*" } },
    body: { url: "https://mcp.example.com/mcp", headers: { "X-Api-Key": SECRET } },
  });
  assert.equal(remote.response.status, 201);
  assert.equal(remote.response.headers.get("Location"), "/api/settings/mcp-servers/ts-remote");
  assert.deepEqual(remote.data?.config, {
    url: "https://mcp.example.com/mcp",
    headers: { "X-Api-Key": MASK },
  });
});

test("a read in each expose mode, with its caching headers", async () => {
  const etag = await create("ts-modes", { command: NEVER_RUN, env: { TOKEN: SECRET } });
  const redacted = await client.GET(ITEM, { params: { path: { name: "ts-modes" } } });
  assert.deepEqual(redacted.data?.config.env, { TOKEN: MASK });
  assert.equal(redacted.response.headers.get("Cache-Control"), "no-cache");
  assert.equal(redacted.response.headers.get("Vary"), "X-Expose-Secrets");

  const encrypted = await client.GET(ITEM, {
    params: { path: { name: "ts-modes" }, header: { "X-Expose-Secrets": "encrypted" } },
  });
  const token = (encrypted.data?.config.env as Record<string, string>).TOKEN;
  assert.ok(token?.startsWith("gAAAAA"));
  assert.equal(encrypted.response.headers.get("Cache-Control"), "no-store");

  const plaintext = await client.GET(ITEM, {
    params: {
      path: { name: "ts-modes" },
      header: { "X-Expose-Secrets": "plaintext", "If-None-Match": etag },
    },
  });
  assert.equal(plaintext.response.status, 200);
  assert.deepEqual(plaintext.data?.config.env, { TOKEN: SECRET });
  assert.equal(plaintext.data?.etag, etag);
  assert.equal(plaintext.response.headers.get("Cache-Control"), "no-store");

  const notModified = await client.GET(ITEM, {
    params: { path: { name: "ts-modes" }, header: { "If-None-Match": etag } },
  });
  assert.equal(notModified.response.status, 304);
});

test("patch with If-Match, then 412 with the current ETag for the stale one", async () => {
  const etag = await create("ts-patch", { command: NEVER_RUN, env: { A: "1" } });
  const patched = await client.PATCH(ITEM, {
    params: { path: { name: "ts-patch" }, header: { "If-Match": etag } },
    body: { description: "patched", env: { B: "2" } },
  });
  assert.equal(patched.response.status, 200);
  assert.ok(patched.data);
  assert.notEqual(patched.data.etag, etag);
  assert.deepEqual(patched.data.config.env, { A: MASK, B: MASK });

  const stale = await client.PATCH(ITEM, {
    params: { path: { name: "ts-patch" }, header: { "If-Match": etag } },
    body: { description: "lost" },
  });
  assert.equal(stale.response.status, 412);
  assert.equal(stale.response.headers.get("ETag"), patched.data.etag);
  assert.equal(typeof stale.error?.detail, "string");
});

test("422 lists each invalid field; 428 when no precondition is sent", async () => {
  const invalid = await client.PUT(ITEM, {
    params: { path: { name: "ts-invalid" }, header: { "If-None-Match": "*" } },
    body: { command: "" },
  });
  assert.equal(invalid.response.status, 422);
  const detail = invalid.error?.detail;
  assert.ok(Array.isArray(detail));
  assert.deepEqual(
    detail.map((e) => [e.loc, e.type]),
    [[["command"], "string_too_short"]],
  );

  const unconditional = await client.PUT(ITEM, {
    params: { path: { name: "ts-invalid" } },
    body: { command: NEVER_RUN },
  });
  assert.equal(unconditional.response.status, 428);
  assert.equal(typeof unconditional.error?.detail, "string");
});

test("delete answers 204, then the server is 404", async () => {
  const etag = await create("ts-delete", { command: NEVER_RUN });
  const deleted = await client.DELETE(ITEM, {
    params: { path: { name: "ts-delete" }, header: { "If-Match": etag } },
  });
  assert.equal(deleted.response.status, 204);
  const missing = await client.GET(ITEM, { params: { path: { name: "ts-delete" } } });
  assert.equal(missing.response.status, 404);
  assert.equal(typeof missing.error?.detail, "string");
});

test("the settings document: read in each mode, patch one diff", async () => {
  const patched = await client.PATCH("/api/settings", {
    body: { agent_settings_diff: { llm: { model: "m-1", api_key: SECRET } } },
  });
  assert.equal(patched.response.status, 200);
  assert.equal(patched.data?.llm_api_key_is_set, true);
  const misc = await client.PATCH("/api/settings", { body: { misc_settings_diff: { theme: "dark" } } });
  assert.deepEqual(misc.data?.misc_settings, { theme: "dark" });

  const redacted = await client.GET("/api/settings");
  assert.deepEqual(redacted.data?.agent_settings.llm, { model: "m-1", api_key: MASK, base_url: null });
  assert.equal(redacted.response.headers.get("Vary"), "X-Expose-Secrets");
  const plaintext = await client.GET("/api/settings", {
    params: { header: { "X-Expose-Secrets": "plaintext" } },
  });
  assert.equal((plaintext.data?.agent_settings.llm as { api_key: string }).api_key, SECRET);
  assert.equal(plaintext.response.headers.get("Cache-Control"), "no-store");

  const empty = await client.PATCH("/api/settings", { body: {} });
  assert.equal(empty.response.status, 400);
});

test("live checks: test a config, a server's tools and health, the catalog", async () => {
  const config: Schemas["StdioServerConfig"] = { command: mcpServer.command, args: mcpServer.args };
  const tested = await client.POST("/api/mcp/test", { body: { config, timeout: 60 } });
  assert.equal(tested.response.status, 200);
  assert.ok(tested.data?.ok);
  assert.ok(tested.data.tools.some((tool) => tool.name === "add"));

  const broken = await client.POST("/api/mcp/test", {
    body: { config: { command: "/nonexistent/mcp-server-ts" } },
  });
  assert.ok(broken.data && !broken.data.ok);
  assert.equal(broken.data.error_kind, "connection");

  const etag = await create("ts-live", config);
  const tools = await client.GET(`${ITEM}/tools`, {
    params: { path: { name: "ts-live" }, query: { refresh: true, timeout: 60 } },
  });
  assert.equal(tools.response.headers.get("ETag"), etag);
  assert.ok(tools.data?.ok);
  assert.ok(tools.data.tools.some((tool) => tool.name === "add"));

  const health = await client.GET(`${ITEM}/health`, {
    params: { path: { name: "ts-live" }, query: { timeout: 60 } },
  });
  assert.equal(health.data?.ok, true);
  assert.equal(health.data?.error, null);

  const catalog = await client.GET("/api/mcp/tools", { params: { query: { timeout: 60 } } });
  assert.ok(catalog.data?.tools.some((tool) => tool.name === "ts-live.add"));
  assert.equal(catalog.data?.servers.find((s) => s.name === "ts-live")?.ok, true);
  assert.equal(await etagOf("ts-live"), etag);
});
