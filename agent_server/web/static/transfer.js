// Import a client's config file (a dry run first, then for real) and export one for a client.
import { ApiError, call } from "./api.js";

const $ = (id) => document.getElementById(id);
const FORMATS = ["claude-desktop", "claude-code", "cursor", "vscode", "cline", "windsurf", "continue"];

for (const format of FORMATS) {
  $("import-format").append(new Option(format, format));
  $("export-format").append(new Option(format, format));
}

$("import-file").addEventListener("change", async () => {
  const [file] = $("import-file").files;
  if (file) $("import-content").value = await file.text();
});

function importBody(dryRun) {
  const text = $("import-content").value;
  const format = $("import-format").value;
  let content = text;
  if (format !== "continue") {
    try {
      content = JSON.parse(text);
    } catch {
      content = text; // YAML, or not a file at all: the server says which
    }
  }
  const body = { content, on_conflict: $("import-conflict").value, dry_run: dryRun };
  if (format) body.format = format;
  return body;
}

function showLines(answer, caption) {
  const table = $("import-lines");
  const rows = table.querySelector("tbody");
  rows.replaceChildren();
  for (const line of answer.servers || []) {
    const needs = (line.needs || []).map((need) => `needs ${need.reference}`).join(", ");
    const note = [line.as ? `as ${line.as}` : "", line.reason || "", needs].filter(Boolean).join("; ");
    const row = document.createElement("tr");
    for (const text of [line.name, line.action, note]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    rows.appendChild(row);
  }
  $("import-caption").textContent = caption;
  table.hidden = false;
}

async function runImport(dryRun) {
  $("import-error").textContent = "";
  try {
    const { data } = await call("POST", "/api/mcp/import", { body: importBody(dryRun) });
    showLines(data, dryRun ? `Preview of a ${data.format} file: nothing written yet`
      : `Imported from a ${data.format} file`);
    if (!dryRun) document.dispatchEvent(new CustomEvent("servers-changed"));
  } catch (error) {
    if (error instanceof ApiError && error.data && Array.isArray(error.data.servers)) {
      showLines(error.data, "Nothing was written");
    }
    $("import-error").textContent = error instanceof ApiError && typeof error.detail === "string"
      ? error.detail : "The file could not be imported: see the lines below.";
  }
}

$("import-preview").addEventListener("click", () => runImport(true));
$("import-form").addEventListener("submit", (event) => {
  event.preventDefault();
  runImport(false);
});

function exportLink() {
  const params = new URLSearchParams({ format: $("export-format").value });
  if ($("export-gateway").checked) params.set("via", "gateway");
  $("export-link").href = `/api/mcp/export?${params}`;
}
$("export-format").addEventListener("change", exportLink);
$("export-gateway").addEventListener("change", exportLink);
exportLink();
