// Starting settings for each destination kind, as the engine expects them
// (crates/engine/src/destinations). Secrets never go here: they have their
// own field and go to the OS keychain.

export const DESTINATION_KINDS = ["folder", "wordpress", "s3", "gcs", "azure", "http"] as const;
export type DestinationKind = (typeof DESTINATION_KINDS)[number];

export const DESTINATION_TEMPLATES: Record<DestinationKind, Record<string, unknown>> = {
  folder: { path: "/home/me/Pictures/Outbox", create: true },
  wordpress: { url: "https://example.com", user: "editor" },
  s3: { bucket: "my-bucket", region: "eu-west-1", access_key_id: "AKIA…" },
  gcs: { bucket: "my-bucket" },
  azure: { container: "images", account: "myaccount" },
  http: { url: "https://example.com/upload", method: "post", field: "file" },
};

/** Parses the settings text; an error names what is wrong. */
export function parseSettings(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`The settings are not valid JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("The settings must be a JSON object, like {\"path\": \"…\"}.");
  }
  return value as Record<string, unknown>;
}
