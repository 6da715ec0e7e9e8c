// The server form: a config read into the form, the form written back as a config, and the
// rules a client must keep (secrets stay masked, a new destination needs its secrets again).
import { MASK } from "./api.js";

const $ = (id) => document.getElementById(id);

function pairRow(container, kind, index, key, value) {
  const row = document.createElement("div");
  row.className = "pair";
  const noun = kind === "env" ? "variable" : "header";
  const keyId = `${kind}-key-${index}`;
  const valueId = `${kind}-value-${index}`;
  row.innerHTML = `
    <label class="sr-only" for="${keyId}">Name of ${noun} ${index + 1}</label>
    <input id="${keyId}" class="pair-key" autocomplete="off">
    <label class="sr-only" for="${valueId}">Value of ${noun} ${index + 1}</label>
    <input id="${valueId}" class="pair-value" type="password" autocomplete="off">
    <button type="button" class="reveal admin" aria-label="Reveal ${noun} ${index + 1}">Reveal</button>
    <button type="button" class="remove write" aria-label="Remove ${noun} ${index + 1}">Remove</button>
    <p class="error pair-error"></p>`;
  row.querySelector(".pair-key").value = key;
  row.querySelector(".pair-value").value = value;
  row.querySelector(".remove").addEventListener("click", () => row.remove());
  const section = kind === "env" ? "env" : "headers";
  row.querySelector(".reveal").addEventListener("click", () => {
    const field = row.querySelector(".pair-key").value.trim();
    reveal([section, field], row.querySelector(".pair-value"));
  });
  container.appendChild(row);
}

function fillPairs(containerId, kind, values) {
  const container = $(containerId);
  container.replaceChildren();
  Object.entries(values || {}).forEach(([key, value], i) => pairRow(container, kind, i, key, value));
}

// Only an admin may reveal a stored secret, one field at a time, when they ask.
function reveal(path, input) {
  document.dispatchEvent(new CustomEvent("reveal-secret", { detail: { path, input } }));
}

export function revealAuth() {
  reveal(["auth"], $("f-auth"));
}

export function addPair(kind) {
  const container = $(kind === "env" ? "env-rows" : "header-rows");
  pairRow(container, kind, container.children.length, "", "");
}

function readPairs(containerId) {
  const values = {};
  for (const row of $(containerId).querySelectorAll(".pair")) {
    const key = row.querySelector(".pair-key").value.trim();
    const value = row.querySelector(".pair-value").value;
    if (key && value !== "") values[key] = value; // a cleared value removes the entry
  }
  return values;
}

export function kindOf(config) {
  return "url" in config && !("command" in config) ? "remote" : "stdio";
}

export function showKind(kind) {
  document.querySelector(`input[name=kind][value=${kind}]`).checked = true;
  $("stdio-fields").hidden = kind !== "stdio";
  $("remote-fields").hidden = kind !== "remote";
}

export function fillForm(config) {
  const kind = kindOf(config);
  showKind(kind);
  $("f-command").value = config.command || "";
  $("f-args").value = (config.args || []).join("\n");
  $("f-cwd").value = config.cwd || "";
  $("f-url").value = config.url || "";
  $("f-transport").value = ["http", "sse"].includes(config.transport) ? config.transport : "";
  $("f-auth").value = typeof config.auth === "string" && config.auth !== "oauth" ? config.auth : "";
  $("f-enabled").checked = config.enabled !== false;
  fillPairs("env-rows", "env", config.env);
  fillPairs("header-rows", "header", config.headers);
  $("f-raw").value = JSON.stringify(config, null, 2);
}

const STDIO_KEYS = ["command", "args", "cwd", "env"];
const REMOTE_KEYS = ["url", "transport", "headers", "auth"];

// The form as a config: the loaded config's other fields are kept as they were.
export function readForm(base) {
  const kind = document.querySelector("input[name=kind]:checked").value;
  const config = { ...base };
  for (const key of [...STDIO_KEYS, ...REMOTE_KEYS, "enabled"]) delete config[key];
  if (kind === "stdio") {
    config.command = $("f-command").value.trim();
    const args = $("f-args").value.split("\n").map((a) => a.trim()).filter(Boolean);
    if (args.length) config.args = args;
    if ($("f-cwd").value.trim()) config.cwd = $("f-cwd").value.trim();
    const env = readPairs("env-rows");
    if (Object.keys(env).length) config.env = env;
  } else {
    config.url = $("f-url").value.trim();
    if ($("f-transport").value) config.transport = $("f-transport").value;
    const headers = readPairs("header-rows");
    if (Object.keys(headers).length) config.headers = headers;
    if ($("f-auth").value) config.auth = $("f-auth").value;
    else if (base.auth === "oauth") config.auth = "oauth";
  }
  if (!$("f-enabled").checked) config.enabled = false;
  return config;
}

function destination(config) {
  if (kindOf(config) === "remote") {
    try {
      const url = new URL(config.url.split("?")[0]);
      return `remote ${url.protocol}//${url.host}`;
    } catch {
      return `remote ${config.url}`;
    }
  }
  return `stdio ${JSON.stringify([config.command, config.args || [], config.cwd || null])}`;
}

// Secret fields still masked while the destination moved: the server refuses to keep them.
export function secretsToReenter(loaded, config) {
  if (!loaded || destination(loaded) === destination(config)) return [];
  const masked = [];
  for (const section of ["env", "headers"]) {
    for (const [key, value] of Object.entries(config[section] || {})) {
      if (value === MASK) masked.push([section, key]);
    }
  }
  if (config.auth === MASK) masked.push(["auth"]);
  return masked;
}

// Every leaf of a config as "path" -> JSON text, for comparing versions field by field.
export function flatten(config, prefix = "", out = {}) {
  for (const [key, value] of Object.entries(config || {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === "object" && !Array.isArray(value)) flatten(value, path, out);
    else out[path] = JSON.stringify(value);
  }
  return out;
}

export function unflattenInto(target, path, text) {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!node[part] || typeof node[part] !== "object") node[part] = {};
    node = node[part];
  }
  const leaf = parts[parts.length - 1];
  if (text === undefined) delete node[leaf];
  else node[leaf] = JSON.parse(text);
}
