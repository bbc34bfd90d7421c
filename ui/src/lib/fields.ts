// An item's fields typed as JSON (the prompt preview's sample fields).

/** Parses the text as a JSON object; an error names what is wrong. */
export function parseFields(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`The fields are not valid JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error('The fields must be a JSON object, like {"title": "…"}.');
  }
  return value as Record<string, unknown>;
}
