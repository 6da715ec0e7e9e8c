// The settings page: every action goes through the public API with ETags, as an IDE's panel would.
import { ApiError, MASK, SERVERS, call, serverPath } from "./api.js";
import {
  addPair, fillForm, flatten, readForm, revealAuth, secretsToReenter, showKind, unflattenInto,
} from "./form.js";

const $ = (id) => document.getElementById(id);
const state = { scope: null, servers: [], editing: null, llmKeySet: false };
// editing: { name, source, etag, loaded } for an existing server, { name: null } for a new one.

const canWrite = () => state.scope === "write" || state.scope === "admin";

function say(text) {
  $("status").textContent = text;
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".error")) el.textContent = "";
}

// A 422's field errors next to the fields their loc names; anything else in `fallback`.
function showError(error, form, fallback) {
  if (error instanceof ApiError && Array.isArray(error.detail)) {
    for (const item of error.detail) {
      const path = item.loc.filter((part) => part !== "config").join(".");
      const spot = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
      if (spot) spot.textContent = item.msg;
      else fallback.textContent += `${path}: ${item.msg} `;
    }
    return;
  }
  fallback.textContent = error instanceof ApiError ? `${error.status}: ${error.detail}` : String(error);
}

// --- session -------------------------------------------------------------------------------------

async function boot() {
  const session = (await call("GET", "/session")).data;
  if (!session.authenticated) {
    $("login").hidden = false;
    $("app").hidden = true;
    return;
  }
  state.scope = session.scope;
  $("login").hidden = true;
  $("app").hidden = false;
  $("scope").hidden = false;
  $("scope").textContent = canWrite() ? `scope: ${state.scope}` : "read only";
  $("logout").hidden = !session.auth_required;
  document.body.classList.toggle("read-only", !canWrite());
  document.body.classList.toggle("admin", state.scope === "admin");
  await Promise.all([loadServers(), loadLlm()]);
  document.dispatchEvent(new CustomEvent("session-ready"));
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await call("POST", "/session", { body: { key: $("login-key").value } });
    $("login-key").value = "";
    await boot();
  } catch (error) {
    showError(error, $("login-form"), $("login-error"));
  }
});

$("logout").addEventListener("click", async () => {
  await call("DELETE", "/session");
  window.location.reload();
});

// --- the list ------------------------------------------------------------------------------------

async function loadServers() {
  const { data } = await call("GET", SERVERS);
  state.servers = data.servers;
  renderServers();
}

function renderServers() {
  const filter = $("filter").value.trim().toLowerCase();
  const list = $("servers");
  list.replaceChildren();
  const shown = state.servers.filter((s) =>
    `${s.name} ${s.description || ""}`.toLowerCase().includes(filter));
  $("no-servers").hidden = state.servers.length > 0;
  for (const server of shown) list.appendChild(serverItem(server));
}

function serverItem(server) {
  const item = document.createElement("li");
  item.className = "server";
  item.dataset.name = server.name;
  const managed = server.source === "managed";
  item.innerHTML = `
    <span class="dot" role="img" aria-label="not checked"></span>
    <span class="name"></span>
    <span class="badge source"></span>
    <span class="transport"></span>
    <label class="toggle"><input type="checkbox" class="enabled"><span class="sr-only"></span> enabled</label>
    <button type="button" class="upgrade write" hidden></button>
    <button type="button" class="check write">Check</button>
    <span class="checked"></span>
    <button type="button" class="edit"></button>`;
  item.querySelector(".name").textContent = server.name;
  item.querySelector(".source").textContent = managed ? "managed · read only"
    : server.registry ? `registry ${server.registry.id}` : server.source;
  item.querySelector(".transport").textContent = server.transport || server.transport_kind;
  const toggle = item.querySelector(".enabled");
  toggle.checked = server.enabled;
  toggle.disabled = managed || !canWrite();
  item.querySelector(".toggle .sr-only").textContent = `${server.name}`;
  toggle.addEventListener("change", () => setEnabled(server, toggle));
  const edit = item.querySelector(".edit");
  edit.textContent = managed || !canWrite() ? "View" : "Edit";
  edit.setAttribute("aria-label", `${edit.textContent} ${server.name}`);
  edit.addEventListener("click", () => openServer(server.name));
  if (server.update_available && !managed) {
    const upgrade = item.querySelector(".upgrade");
    upgrade.hidden = false;
    upgrade.textContent = `Upgrade to ${server.update_available}`;
    upgrade.addEventListener("click", () => upgradeServer(server));
  }
  const check = item.querySelector(".check");
  check.setAttribute("aria-label", `Check ${server.name}`);
  check.addEventListener("click", () => checkHealth(server, item));
  return item;
}

$("filter").addEventListener("input", renderServers);

async function setEnabled(server, toggle) {
  try {
    const { data } = await call("PATCH", serverPath(server.name), {
      body: { enabled: toggle.checked },
      headers: { "If-Match": server.etag },
    });
    server.etag = data.etag;
    server.enabled = toggle.checked;
    say(`${server.name} ${toggle.checked ? "enabled" : "disabled"}`);
  } catch (error) {
    toggle.checked = !toggle.checked;
    say(error instanceof ApiError && error.status === 412
      ? `${server.name} changed meanwhile: reloaded the list, try again` : String(error.message));
    await loadServers();
  }
}

async function upgradeServer(server) {
  try {
    await call("POST", `${serverPath(server.name)}/upgrade`, { headers: { "If-Match": server.etag } });
    say(`Upgraded ${server.name} to ${server.update_available}`);
  } catch (error) {
    say(error instanceof ApiError ? `${server.name}: ${error.detail}` : String(error));
  }
  await loadServers();
}

// On demand: the server's tools (a live connection, or the gateway's open one), so the dot, its
// time and the tool count come from one check.
async function checkHealth(server, item) {
  const dot = item.querySelector(".dot");
  dot.className = "dot checking";
  dot.setAttribute("aria-label", "checking");
  try {
    const { data } = await call("GET", `${serverPath(server.name)}/tools?refresh=true`);
    dot.className = `dot ${data.ok ? "ok" : "failed"}`;
    dot.setAttribute("aria-label", data.ok ? "healthy" : `failing: ${data.error}`);
    const time = new Date().toLocaleTimeString();
    item.querySelector(".checked").textContent = data.ok
      ? `ok at ${time}, ${data.tools.length} tool(s), ${data.latency_ms} ms`
      : `failed at ${time}: ${data.error}`;
  } catch (error) {
    dot.className = "dot failed";
    item.querySelector(".checked").textContent = String(error.message);
  }
}

// --- the editor ----------------------------------------------------------------------------------

function openEditor(title, readOnly) {
  const form = $("server-form");
  clearErrors(form);
  $("editor").hidden = false;
  $("editor-title").textContent = title;
  $("conflict").hidden = true;
  $("test-result").textContent = "";
  $("tool-list").replaceChildren();
  for (const el of form.querySelectorAll("input, textarea, select")) el.disabled = readOnly;
  for (const el of form.querySelectorAll("button.write")) el.hidden = readOnly;
  $("f-name").focus();
}

$("new-server").addEventListener("click", () => {
  state.editing = { name: null, loaded: null, etag: null, source: "user" };
  fillForm({ command: "" });
  openEditor("New server", false);
  $("f-name").disabled = false;
  $("f-name").value = "";
  $("delete").hidden = true;
  $("tools").hidden = true;
});

async function openServer(name) {
  const { data, etag } = await call("GET", serverPath(name));
  state.editing = { name, loaded: data.config, etag, source: data.source };
  const readOnly = data.source === "managed" || !canWrite();
  fillForm(data.config);
  openEditor(readOnly ? `${name} (read only)` : `Edit ${name}`, readOnly);
  $("f-name").value = name;
  $("f-name").disabled = true;
  $("tools").hidden = readOnly;
}

for (const radio of document.querySelectorAll("input[name=kind]")) {
  radio.addEventListener("change", () => showKind(radio.value));
}
$("add-env").addEventListener("click", () => addPair("env"));
$("reveal-auth").addEventListener("click", revealAuth);

// An admin asked to see one stored secret: read the server in plaintext and show that field.
document.addEventListener("reveal-secret", async (event) => {
  const { path, input } = event.detail;
  const editing = state.editing;
  if (!editing || !editing.name || input.value !== MASK) return;
  try {
    const { data } = await call("GET", serverPath(editing.name), {
      headers: { "X-Expose-Secrets": "plaintext" },
    });
    const value = path.reduce((node, part) => (node ? node[part] : undefined), data.config);
    if (typeof value === "string") {
      input.value = value;
      input.type = "text";
    }
  } catch (error) {
    say(error instanceof ApiError ? String(error.detail) : String(error));
  }
});
$("add-header").addEventListener("click", () => addPair("header"));
$("close").addEventListener("click", () => { $("editor").hidden = true; state.editing = null; });

$("apply-raw").addEventListener("click", () => {
  $("raw-error").textContent = "";
  try {
    const config = JSON.parse($("f-raw").value);
    if (!config || typeof config !== "object" || Array.isArray(config)) throw new Error("not an object");
    fillForm(config);
  } catch (error) {
    $("raw-error").textContent = `Not a JSON object: ${error.message}`;
  }
});

function formConfig() {
  const editing = state.editing;
  return readForm(editing.loaded || {});
}

// Masked secrets cannot follow a server to a new destination: ask for them before sending.
function checkSecrets(config) {
  const masked = secretsToReenter(state.editing.loaded, config);
  for (const path of masked) {
    const loc = path.join(".");
    const spot = $("server-form").querySelector(`[data-error-for="${CSS.escape(loc)}"]`);
    const text = "The server now goes somewhere else: enter this secret again, or clear it.";
    if (spot) spot.textContent = text;
    else $("form-error").textContent += `${loc}: ${text} `;
  }
  return masked.length === 0;
}

function markPairs() {
  // Give each row's error spot the loc of its current name, so field errors land beside it.
  for (const [rows, section] of [["env-rows", "env"], ["header-rows", "headers"]]) {
    for (const row of $(rows).querySelectorAll(".pair")) {
      const key = row.querySelector(".pair-key").value.trim();
      row.querySelector(".pair-error").dataset.errorFor = `${section}.${key}`;
    }
  }
}

$("server-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("server-form");
  clearErrors(form);
  markPairs();
  const editing = state.editing;
  const name = editing.name || $("f-name").value.trim();
  if (!name) {
    form.querySelector('[data-error-for="name"]').textContent = "Give the server a name.";
    return;
  }
  const config = formConfig();
  if (!checkSecrets(config)) return;
  const headers = editing.name ? { "If-Match": editing.etag } : { "If-None-Match": "*" };
  say(`Saving ${name}…`);
  try {
    const { data, etag } = await call("PUT", serverPath(name), { body: config, headers });
    state.editing = { name, loaded: data.config, etag, source: "user" };
    fillForm(data.config);
    $("f-name").disabled = true;
    $("editor-title").textContent = `Edit ${name}`;
    $("delete").hidden = false;
    $("tools").hidden = false;
    say(`Saved ${name}`);
    await loadServers();
  } catch (error) {
    say(`${name} was not saved`);
    if (error instanceof ApiError && error.status === 412 && editing.name) {
      await showConflict(config);
    } else if (error instanceof ApiError && error.status === 412) {
      form.querySelector('[data-error-for="name"]').textContent = "A server with this name exists.";
    } else {
      showError(error, form, $("form-error"));
    }
  }
});

// --- 412: what changed on the server, beside the user's edit -------------------------------------

async function showConflict(mine) {
  const editing = state.editing;
  const { data, etag } = await call("GET", serverPath(editing.name));
  const before = flatten(editing.loaded);
  const now = flatten(data.config);
  const edit = flatten(mine);
  const rows = $("conflict-rows");
  rows.replaceChildren();
  const paths = [...new Set([...Object.keys(before), ...Object.keys(now), ...Object.keys(edit)])].sort();
  for (const path of paths) {
    if (now[path] === before[path] && edit[path] === before[path]) continue;
    const row = document.createElement("tr");
    for (const text of [path, now[path] ?? "(none)", edit[path] ?? "(none)"]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    rows.appendChild(row);
  }
  editing.conflict = { current: data.config, etag, mine, before };
  $("conflict").hidden = false;
  $("form-error").textContent = "Not saved: nothing was overwritten.";
}

$("conflict-reload").addEventListener("click", () => {
  const { current, etag } = state.editing.conflict;
  Object.assign(state.editing, { loaded: current, etag, conflict: null });
  fillForm(current);
  $("conflict").hidden = true;
  $("form-error").textContent = "";
  say("Reloaded the server as it is now");
});

$("conflict-reapply").addEventListener("click", () => {
  const { current, etag, mine, before } = state.editing.conflict;
  const merged = structuredClone(current);
  const edit = flatten(mine);
  for (const path of new Set([...Object.keys(before), ...Object.keys(edit)])) {
    if (edit[path] !== before[path]) unflattenInto(merged, path, edit[path]);
  }
  Object.assign(state.editing, { loaded: current, etag, conflict: null });
  fillForm(merged);
  $("conflict").hidden = true;
  $("form-error").textContent = "";
  say("Your edit is applied on top of the current server: check it, then save");
});

// --- test, tools, delete -------------------------------------------------------------------------

$("test").addEventListener("click", async () => {
  const form = $("server-form");
  clearErrors(form);
  markPairs();
  const config = formConfig();
  if (!checkSecrets(config)) return;
  $("test-result").textContent = "Testing…";
  const body = { config, timeout: 15 };
  if (state.editing.name) body.name = state.editing.name;
  try {
    const { data } = await call("POST", "/api/mcp/test", { body });
    $("test-result").textContent = data.ok
      ? `Works: ${data.tools.length} tool(s) in ${data.latency_ms} ms`
      : `Failed (${data.error_kind}): ${data.error}`;
  } catch (error) {
    $("test-result").textContent = "";
    showError(error, form, $("form-error"));
  }
});

$("tools").addEventListener("click", async () => {
  const list = $("tool-list");
  list.replaceChildren();
  try {
    const { data } = await call("GET", `${serverPath(state.editing.name)}/tools`);
    if (!data.ok) {
      $("test-result").textContent = `Failed (${data.error_kind}): ${data.error}`;
      return;
    }
    for (const tool of data.tools) list.appendChild(toolItem(tool));
    $("test-result").textContent = `${data.tools.length} tool(s)`;
  } catch (error) {
    showError(error, $("server-form"), $("form-error"));
  }
});

// One tool: its switch (the server's `tools` setting) and, when its definition changed since it
// was approved, the marker and the approve action.
function toolItem(tool) {
  const item = document.createElement("li");
  item.dataset.tool = tool.name;
  const toggle = document.createElement("label");
  toggle.className = "toggle";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = tool.enabled;
  box.disabled = !canWrite() || state.editing.source === "managed";
  box.setAttribute("aria-label", `Serve the tool ${tool.name}`);
  box.addEventListener("change", () => setToolEnabled(tool.name, box));
  const name = document.createElement("strong");
  name.textContent = tool.name;
  toggle.append(box, name);
  item.append(toggle, document.createTextNode(tool.description ? ` — ${tool.description}` : ""));
  if (tool.changed) {
    const mark = document.createElement("span");
    mark.className = "badge changed";
    mark.textContent = "changed since approved";
    const approve = document.createElement("button");
    approve.type = "button";
    approve.className = "write";
    approve.textContent = "Approve";
    approve.setAttribute("aria-label", `Approve the new definition of ${tool.name}`);
    approve.addEventListener("click", () => approveTool(tool.name));
    item.append(" ", mark, " ", approve);
  }
  return item;
}

async function setToolEnabled(tool, box) {
  const editing = state.editing;
  try {
    const { data, etag } = await call("PATCH", serverPath(editing.name), {
      body: { tools: { [tool]: { enabled: box.checked ? null : false } } },
      headers: { "If-Match": editing.etag },
    });
    Object.assign(editing, { loaded: data.config, etag });
    fillForm(data.config);
    say(`${tool} ${box.checked ? "served" : "no longer served"} through the gateway`);
  } catch (error) {
    box.checked = !box.checked;
    showError(error, $("server-form"), $("form-error"));
  }
}

async function approveTool(tool) {
  const editing = state.editing;
  try {
    await call("POST", `${serverPath(editing.name)}/tools/${encodeURIComponent(tool)}/approve`, {
      headers: { "If-Match": editing.etag },
    });
    say(`Approved the new definition of ${tool}`);
    $("tools").click();
  } catch (error) {
    showError(error, $("server-form"), $("form-error"));
  }
}

$("delete").addEventListener("click", async () => {
  const { name, etag } = state.editing;
  if (!window.confirm(`Delete the server ${name}?`)) return;
  try {
    await call("DELETE", serverPath(name), { headers: { "If-Match": etag } });
    $("editor").hidden = true;
    state.editing = null;
    say(`Deleted ${name}`);
    await loadServers();
  } catch (error) {
    showError(error, $("server-form"), $("form-error"));
  }
});

// --- the language model, through the legacy whole-document route ---------------------------------

async function loadLlm() {
  const { data } = await call("GET", "/api/settings");
  const llm = data.agent_settings.llm || {};
  $("llm-model").value = llm.model || "";
  $("llm-base-url").value = llm.base_url || "";
  $("llm-api-key").value = llm.api_key ? MASK : "";
  state.llmKeySet = Boolean(llm.api_key);
  for (const el of $("llm-form").querySelectorAll("input")) el.disabled = !canWrite();
}

$("llm-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("llm-form");
  clearErrors(form);
  const key = $("llm-api-key").value;
  const llm = {
    model: $("llm-model").value.trim() || null,
    base_url: $("llm-base-url").value.trim() || null,
    api_key: key === "" ? null : key, // the mask keeps the stored key
  };
  say("Saving the model settings…");
  try {
    await call("PATCH", "/api/settings", { body: { agent_settings_diff: { llm } } });
    say("Saved the model settings");
    await loadLlm();
  } catch (error) {
    say("The model settings were not saved");
    showError(error, form, $("llm-error"));
  }
});

document.addEventListener("servers-changed", () => loadServers());

boot().catch((error) => say(`Cannot reach the server: ${error.message}`));
