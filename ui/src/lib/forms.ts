// The engine's descriptions of what each destination or provider kind, or
// recipe step, asks for (crates/engine/src/forms/), and the pure logic of a form drawn from
// one: starting values, which fields show, headers as text. The engine checks
// what is saved; these only shape the form.

export type Input =
  | { type: "text" }
  | { type: "url" }
  | { type: "folder" }
  | { type: "number"; min: number; max: number }
  | { type: "toggle" }
  | { type: "choice"; choices: Array<{ value: string; label: string }> }
  | { type: "money" }
  | { type: "decimal"; min: number; max: number }
  | { type: "colour" }
  | { type: "file" }
  | { type: "headers" };

export interface Field {
  name: string;
  label: string;
  help: string;
  input: Input;
  required: boolean;
  default: unknown;
  example: string;
  /** Shown only when another field has this value (`!value`: any but it). */
  when: [string, string] | null;
  advanced: boolean;
}

export interface KindForm {
  kind: string;
  label: string;
  help: string;
  secret: { label: string; help: string; required: boolean } | null;
  fields: Field[];
}

export interface FieldError {
  /** Null: about the whole form. */
  field: string | null;
  message: string;
}

export type Values = Record<string, unknown>;

/** A new form's values (the defaults), or a saved one's over them. */
export function initialValues(form: KindForm, saved: Values | null = null): Values {
  const values: Values = {};
  for (const f of form.fields) if (f.default !== null) values[f.name] = f.default;
  return { ...values, ...(saved ?? {}) };
}

/** Whether a field shows, given the others' values. */
export function visible(form: KindForm, field: Field, values: Values): boolean {
  if (!field.when) return true;
  const [other, wanted] = field.when;
  const fallback = form.fields.find((f) => f.name === other)?.default ?? null;
  const actual = String(values[other] ?? fallback ?? "");
  return wanted.startsWith("!") ? actual !== wanted.slice(1) : actual === wanted;
}

/** `Name: value` lines as an object; a line without a colon is an error. */
export function parseHeaders(text: string): { headers: Record<string, string> } | { error: string } {
  const headers: Record<string, string> = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return { error: `Line ${i + 1} needs the form "Name: value".` };
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return { headers };
}

export function headersText(headers: unknown): string {
  if (!headers || typeof headers !== "object") return "";
  return Object.entries(headers as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join("\n");
}

/** The errors of a failed save, by field ("" for the whole form). */
export function errorsByField(errors: FieldError[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const e of errors) {
    const key = e.field ?? "";
    by.set(key, [...(by.get(key) ?? []), e.message]);
  }
  return by;
}

/** The field a failed destination test names for the password, token or key
 * (the engine's `SECRET_FIELD`); the kind's form keeps it apart. */
export const SECRET_FIELD = "secret";

/** A failed destination test as problems on fields: the one setting the
 * engine blames (`kind: "check"`, its message on that field), else the whole
 * form's. Null when `e` is not a failed test's error. */
export function testDiagnosis(e: unknown): FieldError[] | null {
  if (!e || typeof e !== "object") return null;
  const { kind, message, fields } = e as { kind?: unknown; message?: unknown; fields?: unknown };
  if (kind !== "check" || typeof message !== "string") return null;
  const blamed = Array.isArray(fields)
    ? fields.filter((f): f is FieldError => typeof f === "object" && f !== null && typeof (f as FieldError).message === "string" && (typeof (f as FieldError).field === "string" || (f as FieldError).field === null))
    : [];
  return blamed.length > 0 ? blamed : [{ field: null, message }];
}

/** Whether a diagnosis names a setting to fix (else it is about no field). */
export function blamesField(errors: FieldError[]): boolean {
  return errors.some((e) => e.field !== null);
}
