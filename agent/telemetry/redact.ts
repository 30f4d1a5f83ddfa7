/**
 * Keeping credentials out of everything the agent prints: logs, metrics, health reasons, error
 * messages. Two layers: call sites print URLs without userinfo and errors through `errText`, and
 * every log line passes through `scrub`, which replaces the secret values found in the config
 * (whatever the key or the error that carried them there) with `[redacted]`.
 */

export const REDACTED = "[redacted]";

/** Key names whose string values are credentials wherever they appear in a config. */
const SECRET_KEY = /(password|passphrase|secret|token|apikey|accesskeyid)/i;
/** Values shorter than this are not searched for in free text (they would match ordinary words). */
const MIN_SCRUB_LENGTH = 6;

/** Each remembered secret with its JSON-escaped form (log lines are JSON). */
const secrets = new Map<string, string>();

/** `scheme://user:pass@host` → `scheme://host`, anywhere in a text (error messages, URLs). */
export function stripUserinfo(text: string): string {
  return text.includes("@") ? text.replace(/:\/\/[^/\s@"'`]*@/g, "://") : text;
}

/** A URL as it may appear in logs: no userinfo, and no query or fragment (tokens live there). */
export function safeUrl(url: string | URL): string {
  const u = typeof url === "string" ? (URL.canParse(url) ? new URL(url) : undefined) : url;
  if (u === undefined) return stripUserinfo(url as string);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Replaces every remembered secret (raw or JSON-escaped) and every URL userinfo in `text`. */
export function scrub(text: string): string {
  let out = stripUserinfo(text);
  for (const [s, escaped] of secrets) {
    if (out.includes(s)) out = out.split(s).join(REDACTED);
    if (escaped !== s && out.includes(escaped)) out = out.split(escaped).join(REDACTED);
  }
  return out;
}

/** An error's message, fit to log or report: client libraries put URLs (with userinfo) in theirs. */
export function errText(err: unknown): string {
  return scrub(err instanceof Error ? err.message : String(err));
}

function add(value: string): void {
  if (value.length >= MIN_SCRUB_LENGTH) secrets.set(value, JSON.stringify(value).slice(1, -1));
}

/** A URL's userinfo, and the values of query parameters named like credentials (`?api_key=…`). */
function urlSecrets(u: URL): string[] {
  const out: string[] = [];
  const [user, pass] = [decodeURIComponent(u.username), decodeURIComponent(u.password)];
  for (const part of [u.password, u.username, pass, user]) if (part) out.push(part);
  // An http client sends the userinfo as Basic auth, which a receiver may echo back.
  if (pass) out.push(Buffer.from(`${user}:${pass}`).toString("base64"));
  for (const [name, value] of u.searchParams)
    if (SECRET_KEY.test(name.replace(/[-_]/g, "")) || /^(key|sig|signature|auth)$/i.test(name))
      out.push(value);
  return out;
}

/**
 * Remembers the credentials in a validated config, for `scrub`: values under secret-looking key
 * names (`password`, `secretAccessKey`, `sessionToken`, …), `spool.key`, inline PEM private keys,
 * every http header value, and the userinfo of every URL. Returns them, for tests.
 */
export function rememberSecrets(config: unknown): string[] {
  const found: string[] = [];
  const walk = (v: unknown, path: string[]): void => {
    const key = path[path.length - 1] ?? "";
    if (typeof v === "string") {
      const parent = path[path.length - 2];
      if (
        SECRET_KEY.test(key) ||
        parent === "headers" ||
        (key === "key" && (path.join(".") === "spool.key" || v.includes("-----BEGIN")))
      )
        found.push(v);
      else if (v.includes("://") && URL.canParse(v)) found.push(...urlSecrets(new URL(v)));
      return;
    }
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, String(i)]));
    else if (v !== null && typeof v === "object")
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(config, []);
  for (const s of found) add(s);
  return found;
}

/** pino `redact` paths: structured fields that hold credentials, masked before serialising. */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "secretAccessKey",
  "*.secretAccessKey",
  "*.*.secretAccessKey",
  "accessKeyId",
  "*.accessKeyId",
  "*.*.accessKeyId",
  "sessionToken",
  "*.sessionToken",
  "*.*.sessionToken",
  "token",
  "*.token",
  "*.*.token",
  "key",
  "*.key",
  "*.*.key",
  "headers",
  "*.headers",
  "*.*.headers",
];
