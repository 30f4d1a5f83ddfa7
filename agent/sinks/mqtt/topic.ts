import type { OutRecord } from "../../record/record.js";

export const TOPIC_FIELDS = ["agent", "sensor", "source", "id"] as const;

/** Wildcards and NUL are not allowed in a published topic; a sensor name must not create one. */
function clean(v: string): string {
  return v.replaceAll("+", "_").replaceAll("#", "_").replaceAll(String.fromCharCode(0), "_");
}

/** Topic for a record from a template like `edgespool/{agent}/{sensor}`. */
export function topicFor(template: string, agent: string, r: OutRecord): string {
  return template.replace(/\{(agent|sensor|source|id)\}/g, (_, f: string) => {
    if (f === "agent") return clean(agent);
    if (f === "sensor") return clean(r.sensor);
    if (f === "id") return clean(r.id);
    return clean(sourceOf(r.body));
  });
}

function sourceOf(body: string): string {
  try {
    const s = (JSON.parse(body) as { source?: unknown }).source;
    return typeof s === "string" ? s : "unknown";
  } catch {
    return "unknown";
  }
}
