//! JSON manifests: an array of objects, or `{"items": [...]}`; one item an
//! object, its keys the fields. Items are numbered from 1.

use super::{ManifestRow, Parsed};
use serde_json::Value;

pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("items") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(
                    "expected an array of items, or an object with an \"items\" array".into(),
                )
            }
        },
        _ => return Err("expected an array of items, or an object with an \"items\" array".into()),
    };
    let mut parsed = Parsed::default();
    for (index, item) in items.into_iter().enumerate() {
        let row = index as u64 + 1;
        match item {
            Value::Object(fields) => parsed.rows.push(ManifestRow { row, fields }),
            other => parsed.skip(
                row,
                format!("an item must be an object, not {}", kind(&other)),
            ),
        }
    }
    Ok(parsed)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
