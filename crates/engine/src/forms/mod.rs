//! What each destination kind and AI provider kind asks for, described once:
//! its fields (input type, required, default, allowed values, help, which
//! one is the secret). The app draws its forms from these descriptions, and
//! [`settings_from_form`] checks a filled form field by field before the
//! kind's own validation runs, so the form and the engine cannot drift
//! apart.
//!
//! A form's values are flat (`{"url": "…", "auth": "header", "auth_header":
//! "X-Key"}`); the settings saved are the kind's own shape, which for HTTP
//! nests two choices (`"auth": {"header": "X-Key"}`). Only this module knows
//! both shapes.

mod recipe;

pub use recipe::{recipe_form_steps, recipe_forms, recipe_from_form, StepError, StepValues};

use crate::destinations;
use crate::providers::{ProviderKind, ProviderSettings, ProviderView};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// One kind's form.
#[derive(Clone, Debug, Serialize)]
pub struct KindForm {
    pub kind: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// The password, token or key this kind keeps in the OS keychain.
    pub secret: Option<SecretField>,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SecretField {
    pub label: &'static str,
    pub help: &'static str,
    /// Whether the kind cannot work without it.
    pub required: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Field {
    /// The key in the form's values.
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub input: Input,
    pub required: bool,
    /// The value a new form starts with (`null`: empty).
    pub default: Value,
    /// A value that passes, shown as the placeholder.
    pub example: &'static str,
    /// Shown only when another field has this value: `[field, value]`.
    pub when: Option<[&'static str; 2]>,
    /// Folded away under "More settings" until opened.
    pub advanced: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    Text,
    /// An http(s) address (a template may hold `{placeholders}`).
    Url,
    /// An absolute folder path.
    Folder,
    Number {
        min: u64,
        max: u64,
    },
    Toggle,
    Choice {
        choices: Vec<Choice>,
    },
    /// Decimal money, 0 or more.
    Money,
    /// A decimal number in a range (a share, an opacity).
    Decimal {
        min: f64,
        max: f64,
    },
    /// `#rrggbb`.
    Colour,
    /// An absolute file path.
    File,
    /// HTTP header names and values, one per line as `Name: value`.
    Headers,
}

#[derive(Clone, Debug, Serialize)]
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

/// A field's problem, or the whole form's (`field: None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
}

impl FieldError {
    fn on(field: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    fn whole(message: impl Into<String>) -> FieldError {
        FieldError {
            field: None,
            message: message.into(),
        }
    }
}

struct F(Field);

/// Builds a field: `f("url", "Site address", Input::Url).required()…`.
fn f(name: &'static str, label: &'static str, input: Input) -> F {
    F(Field {
        name,
        label,
        help: "",
        input,
        required: false,
        default: Value::Null,
        example: "",
        when: None,
        advanced: false,
    })
}

impl F {
    fn required(mut self) -> F {
        self.0.required = true;
        self
    }
    fn help(mut self, help: &'static str) -> F {
        self.0.help = help;
        self
    }
    fn default(mut self, value: Value) -> F {
        self.0.default = value;
        self
    }
    fn example(mut self, example: &'static str) -> F {
        self.0.example = example;
        self
    }
    fn when(mut self, field: &'static str, value: &'static str) -> F {
        self.0.when = Some([field, value]);
        self
    }
    fn advanced(mut self) -> F {
        self.0.advanced = true;
        self
    }
}

fn choice(choices: &[(&'static str, &'static str)]) -> Input {
    Input::Choice {
        choices: choices
            .iter()
            .map(|&(value, label)| Choice { value, label })
            .collect(),
    }
}

fn timeout(default: u64) -> F {
    f(
        "timeout_seconds",
        "Give up on a stalled request after (seconds)",
        Input::Number { min: 1, max: 3600 },
    )
    .default(json!(default))
    .advanced()
}

fn object_form(kind: &'static str, label: &'static str, help: &'static str) -> KindForm {
    let mut fields = vec![f(
        "bucket",
        if kind == "azure" {
            "Container"
        } else {
            "Bucket"
        },
        Input::Text,
    )
    .required()
    .example(if kind == "azure" {
        "images"
    } else {
        "my-bucket"
    })];
    match kind {
        "s3" => fields.extend([
            f("region", "Region", Input::Text)
                .example("eu-west-1")
                .help("us-east-1 when empty."),
            f("access_key_id", "Access key ID", Input::Text)
                .required()
                .example("AKIAIOSFODNN7EXAMPLE")
                .help("Not secret; the secret access key goes in the keychain."),
            f("endpoint", "S3-compatible server", Input::Url)
                .example("https://s3.example.com")
                .help("MinIO, Cloudflare R2, moto…; empty for Amazon S3.")
                .advanced(),
        ]),
        "azure" => fields.extend([
            f("account", "Storage account", Input::Text)
                .required()
                .example("myaccount"),
            f("endpoint", "Blob endpoint", Input::Url)
                .example("http://127.0.0.1:10000/devstoreaccount1")
                .help("Empty for Azure itself; Azurite or a private endpoint otherwise.")
                .advanced(),
        ]),
        _ => {}
    }
    fields.extend([
        f("key_template", "Object name", Input::Text)
            .default(json!("{file_name}"))
            .example("products/{sku}/{file_name}")
            .help("{file_name}, {stem}, {ext}, {hash}, {job} and any item field such as {sku}."),
        f(
            "public_url_base",
            "Public address of the objects",
            Input::Url,
        )
        .example("https://cdn.example.com")
        .help("The link recorded is this + / + the object name; empty: the storage's own address."),
        f(
            "multipart_threshold_mb",
            "Upload in parts from (MiB)",
            Input::Number { min: 5, max: 5000 },
        )
        .default(json!(64))
        .advanced(),
        timeout(300),
    ]);
    KindForm {
        kind,
        label,
        help,
        secret: Some(SecretField {
            label: match kind {
                "s3" => "Secret access key",
                "gcs" => "Service account key (JSON)",
                _ => "Account key",
            },
            help: "Kept in the OS keychain, never in Outbox's files.",
            required: true,
        }),
        fields: fields.into_iter().map(|F(field)| field).collect(),
    }
}

/// Every destination kind's form, in the order the app offers them.
pub fn destination_forms() -> Vec<KindForm> {
    let unwrap = |fields: Vec<F>| fields.into_iter().map(|F(field)| field).collect();
    vec![
        KindForm {
            kind: "folder",
            label: "Folder",
            help: "Copies each result into a folder on this computer or a mounted drive.",
            secret: None,
            fields: unwrap(vec![
                f("path", "Folder", Input::Folder)
                    .required()
                    .example("/home/me/Pictures/Outbox"),
                f("create", "Create the folder when it is missing", Input::Toggle)
                    .default(json!(false))
                    .help("Off: a missing folder (an unplugged drive) stops the jobs with a reason instead."),
            ]),
        },
        KindForm {
            kind: "wordpress",
            label: "WordPress",
            help: "Uploads to a WordPress site's media library over its REST API.",
            secret: Some(SecretField {
                label: "Application password",
                help: "Made under Users → Profile → Application Passwords; kept in the OS keychain.",
                required: true,
            }),
            fields: unwrap(vec![
                f("url", "Site address", Input::Url)
                    .required()
                    .example("https://example.com"),
                f("user", "User name", Input::Text).required().example("editor"),
                f("post", "Attach to post (ID)", Input::Number { min: 1, max: u32::MAX as u64 })
                    .example("42")
                    .help("An item's own post field wins over this."),
                f("featured", "Make it the post's featured image", Input::Toggle)
                    .default(json!(false)),
                f("acf_field", "Also set this ACF image field", Input::Text)
                    .example("product_image")
                    .advanced(),
                f("plain_permalinks", "The site uses plain permalinks", Input::Toggle)
                    .default(json!(false))
                    .help("Sites without pretty permalinks answer only at ?rest_route=.")
                    .advanced(),
                f("settle_seconds", "After a lost upload, wait before sending again (seconds)", Input::Number { min: 0, max: 3600 })
                    .default(json!(120))
                    .help("The longest the site may still be storing an upload Outbox lost sight of.")
                    .advanced(),
                timeout(300),
            ]),
        },
        object_form("s3", "Amazon S3 or compatible", "Puts each result in an S3 bucket (or MinIO, R2…)."),
        object_form("gcs", "Google Cloud Storage", "Puts each result in a Cloud Storage bucket."),
        object_form("azure", "Azure Blob Storage", "Puts each result in a blob container."),
        KindForm {
            kind: "http",
            label: "HTTP endpoint",
            help: "Sends each result to any web address, as a form upload or the raw bytes.",
            secret: Some(SecretField {
                label: "Token or API key",
                help: "Sent as the authorisation chosen below; kept in the OS keychain.",
                required: false,
            }),
            fields: unwrap(vec![
                f("url", "Address", Input::Url)
                    .required()
                    .example("https://example.com/upload")
                    .help("{file_name}, {hash} and {job} are filled in."),
                f("method", "Send as", choice(&[("post", "Form upload (POST, multipart)"), ("put", "Raw bytes (PUT)")]))
                    .default(json!("post")),
                f("field", "Form field of the file", Input::Text)
                    .default(json!("file"))
                    .when("method", "post"),
                f("auth", "Authorisation", choice(&[("none", "None"), ("bearer", "Bearer token"), ("header", "API key in a header")]))
                    .default(json!("none")),
                f("auth_header", "Header of the API key", Input::Text)
                    .required()
                    .example("X-Api-Key")
                    .when("auth", "header"),
                f("result", "The uploaded file's link is", choice(&[("none", "Not given"), ("json_pointer", "In the JSON answer"), ("header", "In a header of the answer")]))
                    .default(json!("none")),
                f("result_at", "Where", Input::Text)
                    .required()
                    .example("/data/url")
                    .help("A JSON pointer such as /data/url, or a header name such as Location."),
                f("headers", "Extra headers", Input::Headers)
                    .example("X-Source: outbox")
                    .advanced(),
                f("idempotency_header", "Idempotency header", Input::Text)
                    .example("Idempotency-Key")
                    .help("Lets the server recognise a repeated upload after a crash.")
                    .advanced(),
                timeout(120),
            ])
            .into_iter()
            .map(|mut field: Field| {
                // "Where" depends on two choices: shown for either.
                if field.name == "result_at" {
                    field.when = Some(["result", "!none"]);
                }
                field
            })
            .collect(),
        },
    ]
}

/// Every AI provider kind's form.
pub fn provider_forms() -> Vec<KindForm> {
    let common = |kind: ProviderKind| {
        let openai = kind == ProviderKind::Openai;
        let mut fields = vec![
            f("model", "Model", Input::Text)
                .default(json!(kind.default_model()))
                .example(kind.default_model()),
            f("cost_per_image", "Cost per image", Input::Money)
                .default(json!(0))
                .example("0.04")
                .help("In your billing currency; counted against the spending cap."),
            f("spending_cap", "Spending cap", Input::Money)
                .example("20.00")
                .help("Jobs that would spend more wait until you raise it; empty: no cap."),
        ];
        if openai {
            fields.extend([
                f(
                    "size",
                    "Size",
                    choice(&[
                        ("", "The model's default"),
                        ("1024x1024", "1024 × 1024"),
                        ("1536x1024", "1536 × 1024 (landscape)"),
                        ("1024x1536", "1024 × 1536 (portrait)"),
                        ("auto", "Auto"),
                    ]),
                ),
                f(
                    "quality",
                    "Quality",
                    choice(&[
                        ("", "The model's default"),
                        ("low", "Low"),
                        ("medium", "Medium"),
                        ("high", "High"),
                        ("auto", "Auto"),
                    ]),
                ),
                f(
                    "count",
                    "Images per item",
                    Input::Number { min: 1, max: 10 },
                )
                .default(json!(1)),
            ]);
        }
        fields.extend([
            f("base_url", "API address", Input::Url)
                .example(kind.default_base_url())
                .help("Empty for the provider's own; a compatible or self-hosted server otherwise.")
                .advanced(),
            f(
                "max_concurrent",
                "Requests at once",
                Input::Number { min: 1, max: 64 },
            )
            .default(json!(2))
            .advanced(),
            f(
                "requests_per_minute",
                "Requests per minute at most",
                Input::Number {
                    min: 1,
                    max: 10_000,
                },
            )
            .example("60")
            .help("Spread evenly; empty: no limit.")
            .advanced(),
            f(
                "max_attempts",
                "Attempts per image at most",
                Input::Number { min: 1, max: 10 },
            )
            .default(json!(2))
            .help("Each attempt may be paid for.")
            .advanced(),
            timeout(300),
        ]);
        fields.into_iter().map(|F(field)| field).collect()
    };
    [ProviderKind::Openai, ProviderKind::Gemini]
        .into_iter()
        .map(|kind| KindForm {
            kind: kind.as_str(),
            label: match kind {
                ProviderKind::Openai => "OpenAI Images API (or compatible)",
                ProviderKind::Gemini => "Google Gemini",
            },
            help: "Generates images from a recipe's prompt; each image is paid for.",
            secret: Some(SecretField {
                label: "API key",
                help: "Kept in the OS keychain, never in Outbox's files.",
                required: true,
            }),
            fields: common(kind),
        })
        .collect()
}

fn form_of(forms: Vec<KindForm>, kind: &str) -> Result<KindForm, Vec<FieldError>> {
    let known: Vec<&str> = forms.iter().map(|f| f.kind).collect();
    let message = format!("unknown kind {kind:?}; the kinds are: {}", known.join(", "));
    forms
        .into_iter()
        .find(|f| f.kind == kind)
        .ok_or_else(|| vec![FieldError::whole(message)])
}

/// A destination's settings from its filled form, or every field's problem.
pub fn destination_settings_from_form(
    kind: &str,
    values: &Map<String, Value>,
) -> Result<Value, Vec<FieldError>> {
    let form = form_of(destination_forms(), kind)?;
    let mut settings = checked_values(&form, values)?;
    match kind {
        "http" => nest_http(&mut settings),
        "s3" | "gcs" | "azure" => {
            settings.insert("provider".into(), json!(kind));
        }
        _ => {}
    }
    let settings = Value::Object(settings);
    destinations::validate_settings(kind, &settings).map_err(|m| vec![FieldError::whole(m)])?;
    Ok(settings)
}

/// A destination's saved settings as its form's values, for editing.
pub fn destination_form_values(kind: &str, settings: &Value) -> Map<String, Value> {
    let mut values = settings.as_object().cloned().unwrap_or_default();
    values.remove("provider");
    if kind == "http" {
        flatten_http(&mut values);
    }
    values
}

/// A provider's saved settings as its form's values, for editing.
pub fn provider_form_values(settings: &ProviderSettings) -> Map<String, Value> {
    match serde_json::to_value(settings) {
        Ok(Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    }
}

/// An AI provider from its filled form, or every field's problem.
pub fn provider_from_form(
    name: &str,
    kind: &str,
    values: &Map<String, Value>,
) -> Result<ProviderView, Vec<FieldError>> {
    let form = form_of(provider_forms(), kind)?;
    let kind: ProviderKind = serde_json::from_value(json!(kind))
        .map_err(|e| vec![FieldError::whole(format!("unknown provider kind: {e}"))])?;
    let settings = checked_values(&form, values)?;
    let settings: ProviderSettings =
        serde_json::from_value(Value::Object(settings)).map_err(|e| {
            vec![FieldError::whole(format!(
                "invalid {} settings: {e}",
                kind.as_str()
            ))]
        })?;
    let view = ProviderView {
        name: name.trim().to_string(),
        kind,
        settings,
    };
    view.validate().map_err(|m| vec![FieldError::whole(m)])?;
    Ok(view)
}

/// Checks each shown field against its description, and keeps the values
/// given (empty optional fields are left out, so the kind's defaults apply).
fn checked_values(
    form: &KindForm,
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();
    for field in &form.fields {
        if !shown(form, field, values) {
            continue;
        }
        let value = values.get(field.name).unwrap_or(&Value::Null);
        let empty = match value {
            Value::Null => true,
            Value::String(s) => s.trim().is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if empty {
            if field.required {
                errors.push(FieldError::on(
                    field.name,
                    format!("{} is needed.", field.label),
                ));
            }
            continue;
        }
        match check(field, value) {
            Ok(Value::Null) => {}
            Ok(value) => {
                out.insert(field.name.into(), value);
            }
            Err(message) => errors.push(FieldError::on(field.name, message)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Whether a field's condition holds (`!value`: any value but that one).
fn shown(form: &KindForm, field: &Field, values: &Map<String, Value>) -> bool {
    let Some([other, wanted]) = field.when else {
        return true;
    };
    let default = form
        .fields
        .iter()
        .find(|f| f.name == other)
        .map(|f| &f.default)
        .unwrap_or(&Value::Null);
    let actual = values.get(other).unwrap_or(default);
    let actual = actual.as_str().unwrap_or("");
    match wanted.strip_prefix('!') {
        Some(not) => actual != not,
        None => actual == wanted,
    }
}

/// One value, checked and in the type the settings want.
fn check(field: &Field, value: &Value) -> Result<Value, String> {
    let label = field.label;
    let text = || -> Result<String, String> {
        match value {
            Value::String(s) => Ok(s.trim().to_string()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(format!("{label} must be text.")),
        }
    };
    match &field.input {
        Input::Text => Ok(json!(text()?)),
        Input::Url => {
            let url = text()?;
            // Placeholders are filled per upload; check the rest.
            let probe = url.replace(['{', '}'], "");
            match reqwest::Url::parse(&probe) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(json!(url)),
                Ok(_) => Err(format!("{label} must start with http:// or https://.")),
                Err(e) => Err(format!(
                    "{label} is not a web address ({e}), e.g. {}.",
                    field.example
                )),
            }
        }
        Input::Folder => {
            let path = text()?;
            if std::path::Path::new(&path).is_absolute() {
                Ok(json!(path))
            } else {
                Err(format!(
                    "{label} must be a full path, such as {}.",
                    field.example
                ))
            }
        }
        Input::Number { min, max } => {
            let n = match value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if (*min..=*max).contains(&n) => Ok(json!(n)),
                _ => Err(format!(
                    "{label} must be a whole number from {min} to {max}."
                )),
            }
        }
        Input::Money => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n.is_finite() && n >= 0.0 => Ok(json!(n)),
                _ => Err(format!(
                    "{label} must be an amount, 0 or more, such as 0.04."
                )),
            }
        }
        Input::Decimal { min, max } => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n.is_finite() && (*min..=*max).contains(&n) => Ok(json!(n)),
                _ => Err(format!("{label} must be a number from {min} to {max}.")),
            }
        }
        Input::Colour => {
            let colour = text()?;
            crate::recipe::parse_colour(&colour)
                .map(|_| json!(colour))
                .map_err(|_| format!("{label} must be a colour such as #ffffff."))
        }
        Input::File => {
            let path = text()?;
            if std::path::Path::new(&path).is_absolute() {
                Ok(json!(path))
            } else {
                Err(format!(
                    "{label} must be a full path, such as {}.",
                    field.example
                ))
            }
        }
        Input::Toggle => value
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| format!("{label} must be on or off.")),
        Input::Choice { choices } => {
            let chosen = text()?;
            if chosen.is_empty() {
                return Ok(Value::Null);
            }
            if choices.iter().any(|c| c.value == chosen) {
                Ok(json!(chosen))
            } else {
                let allowed: Vec<&str> = choices.iter().map(|c| c.value).collect();
                Err(format!("{label} must be one of: {}.", allowed.join(", ")))
            }
        }
        Input::Headers => {
            let Value::Object(headers) = value else {
                return Err(format!("{label} must be names and values."));
            };
            for (name, v) in headers {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(format!("{name:?} is not a valid header name."));
                }
                if !v.is_string() {
                    return Err(format!("The header {name} needs a text value."));
                }
            }
            Ok(value.clone())
        }
    }
}

/// `auth` + `auth_header` and `result` + `result_at` into the HTTP
/// destination's tagged shapes.
fn nest_http(settings: &mut Map<String, Value>) {
    let auth = settings.remove("auth");
    let auth_header = settings.remove("auth_header");
    settings.insert(
        "auth".into(),
        match (auth.as_ref().and_then(Value::as_str), auth_header) {
            (Some("header"), Some(header)) => json!({ "header": header }),
            (Some("bearer"), _) => json!("bearer"),
            _ => json!("none"),
        },
    );
    let result = settings.remove("result");
    let at = settings.remove("result_at");
    settings.insert(
        "result".into(),
        match (result.as_ref().and_then(Value::as_str), at) {
            (Some(kind @ ("json_pointer" | "header")), Some(at)) => json!({ kind: at }),
            _ => json!("none"),
        },
    );
}

fn flatten_http(values: &mut Map<String, Value>) {
    for (key, detail) in [("auth", "auth_header"), ("result", "result_at")] {
        if let Some(Value::Object(tagged)) = values.get(key).cloned() {
            if let Some((tag, inner)) = tagged.into_iter().next() {
                values.insert(key.into(), json!(tag));
                values.insert(detail.into(), inner);
            }
        }
    }
}

/// A new form's values: every field's default.
pub fn defaults(form: &KindForm) -> Map<String, Value> {
    form.fields
        .iter()
        .filter(|f| !f.default.is_null())
        .map(|f| (f.name.to_string(), f.default.clone()))
        .collect()
}

/// A form as a new user fills it: the defaults, and each required field's
/// example.
#[cfg(test)]
fn filled(form: &KindForm) -> Map<String, Value> {
    let mut values = defaults(form);
    for field in &form.fields {
        if field.required && !values.contains_key(field.name) {
            values.insert(field.name.into(), json!(field.example));
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_destination_form_filled_with_its_defaults_passes_the_engines_validation() {
        for form in destination_forms() {
            let settings = destination_settings_from_form(form.kind, &filled(&form))
                .unwrap_or_else(|e| panic!("{}: {e:?}", form.kind));
            destinations::validate_settings(form.kind, &settings)
                .unwrap_or_else(|e| panic!("{}: {e}", form.kind));
        }
    }

    #[test]
    fn every_provider_form_filled_with_its_defaults_passes_the_engines_validation() {
        for form in provider_forms() {
            provider_from_form("p", form.kind, &filled(&form))
                .unwrap_or_else(|e| panic!("{}: {e:?}", form.kind));
        }
    }

    #[test]
    fn each_bad_field_gets_its_own_message() {
        let mut values = Map::new();
        values.insert("url".into(), json!("example.com/upload"));
        values.insert("auth".into(), json!("header"));
        values.insert("timeout_seconds".into(), json!("soon"));
        let errors = destination_settings_from_form("http", &values).unwrap_err();
        let fields: Vec<_> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
        assert_eq!(
            fields,
            ["url", "auth_header", "timeout_seconds"],
            "{errors:?}"
        );
        assert!(
            errors[0].message.contains("not a web address"),
            "{errors:?}"
        );
        assert_eq!(errors[1].message, "Header of the API key is needed.");
    }

    #[test]
    fn http_choices_are_nested_and_flattened_again_for_editing() {
        let mut values = Map::new();
        values.insert("url".into(), json!("https://example.com/up/{file_name}"));
        values.insert("method".into(), json!("put"));
        values.insert("field".into(), json!("ignored: only for post"));
        values.insert("auth".into(), json!("header"));
        values.insert("auth_header".into(), json!("X-Key"));
        values.insert("result".into(), json!("json_pointer"));
        values.insert("result_at".into(), json!("/data/url"));
        let settings = destination_settings_from_form("http", &values).unwrap();
        assert_eq!(settings["auth"], json!({"header": "X-Key"}));
        assert_eq!(settings["result"], json!({"json_pointer": "/data/url"}));
        assert!(settings.get("field").is_none(), "{settings}");
        let again = destination_form_values("http", &settings);
        assert_eq!(again["auth"], json!("header"));
        assert_eq!(again["auth_header"], json!("X-Key"));
        assert_eq!(again["result_at"], json!("/data/url"));
    }

    #[test]
    fn object_storage_forms_name_their_provider_and_the_app_templates_of_old_would_fail() {
        let s3 = destination_forms()
            .into_iter()
            .find(|f| f.kind == "s3")
            .unwrap();
        let settings = destination_settings_from_form("s3", &filled(&s3)).unwrap();
        assert_eq!(settings["provider"], json!("s3"));
        // The template the app used to prefill, missing the provider.
        let old = json!({ "bucket": "b", "region": "eu-west-1", "access_key_id": "AKIA" });
        assert!(destinations::validate_settings("s3", &old).is_err());
    }

    #[test]
    fn out_of_range_and_unknown_choices_are_refused() {
        let mut values = Map::new();
        values.insert("model".into(), json!("gpt-image-1"));
        values.insert("count".into(), json!(11));
        values.insert("size".into(), json!("9x9"));
        values.insert("cost_per_image".into(), json!("-1"));
        let errors = provider_from_form("p", "openai", &values).unwrap_err();
        let fields: Vec<_> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
        assert_eq!(fields, ["cost_per_image", "size", "count"], "{errors:?}");
    }
}
