// The HTTP API as the page uses it: JSON in and out, the page's cookie, ETags kept by the caller.
export const MASK = "**********";
export const SERVERS = "/api/settings/mcp-servers";

export class ApiError extends Error {
  constructor(status, detail, etag, data) {
    super(typeof detail === "string" ? detail : `${status}`);
    this.status = status;
    this.detail = detail;
    this.etag = etag;
    this.data = data;
  }
}

export async function call(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const etag = response.headers.get("ETag");
  if (response.status === 204 || response.status === 304) return { status: response.status, etag };
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && data.detail !== undefined ? data.detail : response.statusText;
    throw new ApiError(response.status, detail, etag, data);
  }
  return { status: response.status, etag, data };
}

export const serverPath = (name) => `${SERVERS}/${encodeURIComponent(name)}`;
