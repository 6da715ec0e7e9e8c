// Find a server in a registry, read its install plans, fill their inputs, install it.
import { ApiError, call } from "./api.js";

const $ = (id) => document.getElementById(id);
const shown = { registry: null, server: null, plans: [] };

async function loadRegistries() {
  try {
    const { data } = await call("GET", "/api/settings/mcp-registries");
    const select = $("registry-id");
    select.replaceChildren();
    for (const registry of data.registries.filter((r) => r.enabled)) {
      select.append(new Option(registry.title || registry.id, registry.id));
    }
  } catch {
    // a read key, or no session yet: the section stays as it is (hidden for read keys)
  }
}

$("registry-search").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("registry-error").textContent = "";
  const list = $("registry-results");
  list.replaceChildren();
  const id = $("registry-id").value;
  const query = new URLSearchParams({ search: $("registry-text").value.trim(), limit: "30" });
  try {
    const { data } = await call("GET", `/api/mcp/registries/${encodeURIComponent(id)}/servers?${query}`);
    for (const server of data.servers) list.appendChild(resultItem(id, server));
    if (!data.servers.length) $("registry-error").textContent = "Nothing found.";
  } catch (error) {
    $("registry-error").textContent = error instanceof ApiError ? String(error.detail) : String(error);
  }
});

function resultItem(registry, server) {
  const item = document.createElement("li");
  item.className = "server";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = server.title || server.name;
  const version = document.createElement("span");
  version.className = "badge";
  version.textContent = server.installed_as ? `${server.version} · installed` : server.version;
  const about = document.createElement("span");
  about.className = "transport";
  about.textContent = server.description;
  const details = document.createElement("button");
  details.type = "button";
  details.className = "edit";
  details.textContent = "Details";
  details.setAttribute("aria-label", `Details of ${server.name}`);
  details.addEventListener("click", () => showServer(registry, server.name));
  item.append(name, version, about, details);
  return item;
}

async function showServer(registry, name) {
  $("install-error").textContent = "";
  const path = `/api/mcp/registries/${encodeURIComponent(registry)}/servers/${encodeURIComponent(name)}`;
  const { data } = await call("GET", path);
  Object.assign(shown, { registry, server: name, plans: data.plans });
  $("install-title").textContent = data.server.title || name;
  $("install-description").textContent = data.server.description || "";
  const select = $("install-plan");
  select.replaceChildren();
  data.plans.forEach((plan, i) => {
    const option = new Option(`${plan.type}${plan.supported ? "" : ` (${plan.problem})`}`, String(i));
    option.disabled = !plan.supported;
    select.append(option);
  });
  const first = data.plans.findIndex((plan) => plan.supported);
  select.value = String(Math.max(first, 0));
  renderInputs();
  $("install-form").hidden = false;
}

function renderInputs() {
  const plan = shown.plans[Number($("install-plan").value)];
  $("install-config").textContent = plan && plan.config ? JSON.stringify(plan.config, null, 2) : "";
  const container = $("install-inputs");
  container.replaceChildren();
  (plan ? plan.inputs : []).forEach((input, i) => {
    const field = document.createElement("div");
    field.className = "field";
    const label = document.createElement("label");
    label.htmlFor = `install-input-${i}`;
    label.textContent = `${input.name}${input.is_required ? " (required)" : ""}`
      + (input.description ? ` — ${input.description}` : "");
    let control;
    if (input.choices && input.choices.length) {
      control = document.createElement("select");
      if (!input.is_required) control.append(new Option("", ""));
      for (const choice of input.choices) control.append(new Option(choice, choice));
      if (input.default) control.value = input.default;
    } else {
      control = document.createElement("input");
      control.type = input.is_secret ? "password" : "text";
      control.autocomplete = "off";
      control.placeholder = input.default || "";
    }
    control.id = `install-input-${i}`;
    control.dataset.input = input.name;
    const error = document.createElement("p");
    error.className = "error";
    error.dataset.errorFor = `inputs.${input.name}`;
    field.append(label, control, error);
    container.appendChild(field);
  });
}

$("install-plan").addEventListener("change", renderInputs);

$("install-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("install-form");
  for (const el of form.querySelectorAll(".error")) el.textContent = "";
  const plan = shown.plans[Number($("install-plan").value)];
  const inputs = {};
  for (const control of $("install-inputs").querySelectorAll("[data-input]")) {
    if (control.value !== "") inputs[control.dataset.input] = control.value;
  }
  const body = { server: shown.server, choose: plan.choose, inputs };
  if ($("install-as").value.trim()) body.as = $("install-as").value.trim();
  try {
    const { data } = await call("POST", `/api/mcp/registries/${encodeURIComponent(shown.registry)}/install`, { body });
    $("status").textContent = `Installed ${data.name}`;
    form.hidden = true;
    document.dispatchEvent(new CustomEvent("servers-changed"));
  } catch (error) {
    if (error instanceof ApiError && Array.isArray(error.detail)) {
      for (const item of error.detail) {
        const spot = form.querySelector(`[data-error-for="${CSS.escape(item.loc.join("."))}"]`);
        if (spot) spot.textContent = item.msg;
        else $("install-error").textContent += `${item.loc.join(".")}: ${item.msg} `;
      }
    } else if (error instanceof ApiError && error.status === 412) {
      form.querySelector('[data-error-for="as"]').textContent =
        "A server of that name exists: choose another name.";
    } else {
      $("install-error").textContent = error instanceof ApiError ? String(error.detail) : String(error);
    }
  }
});

document.addEventListener("session-ready", loadRegistries);
