//! Text with `{name}` placeholders, filled from an item's fields and a few
//! values the pipeline knows (rename patterns, text watermarks; prompt
//! templates later). A placeholder the item lacks is an error on that item.

use serde_json::Value;

/// An item's own fields (title, SKU, alt text…), as imported or typed.
pub type Fields = serde_json::Map<String, Value>;

/// Checks the syntax: braces closed, names non-empty and without braces.
pub fn check(template: &str) -> Result<(), String> {
    placeholders(template).map(|_| ())
}

/// The placeholder names in `template`, in order.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("a }} without its {{ in {template:?}"));
        }
        let after = &rest[open + 1..];
        let close = after
            .find(['{', '}'])
            .filter(|&i| after[i..].starts_with('}'))
            .ok_or_else(|| format!("a {{ without its }} in {template:?}"))?;
        let name = after[..close].trim();
        if name.is_empty() {
            return Err(format!("an empty {{}} in {template:?}"));
        }
        names.push(name);
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// Fills every placeholder with `value(name)`; names the first one missing.
pub fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    for name in placeholders(template)? {
        let open = rest.find('{').unwrap_or(rest.len());
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |i| open + i + 1);
        let filled = value(name).ok_or_else(|| format!("this item has no {{{name}}}"))?;
        out.push_str(&filled);
        rest = &rest[close..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A field as text: strings as they are, numbers and booleans written out;
/// empty, null, arrays and objects count as missing.
pub fn field_text(fields: &Fields, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn fills_from_fields_and_names_what_is_missing() {
        let f = fields(json!({"sku": "A-17", "size": 42, "blank": " ", "tags": ["x"]}));
        let get = |name: &str| field_text(&f, name);
        assert_eq!(fill("{sku}_{ size }.x", get).as_deref(), Ok("A-17_42.x"));
        assert_eq!(
            fill("no placeholders", get).as_deref(),
            Ok("no placeholders")
        );
        assert_eq!(
            fill("{sku}-{colour}", get),
            Err("this item has no {colour}".to_string())
        );
        assert!(fill("{blank}", get).is_err());
        assert!(fill("{tags}", get).is_err());
    }

    #[test]
    fn rejects_broken_syntax() {
        for bad in ["{sku", "sku}", "{}", "{a{b}}", "{ }"] {
            assert!(check(bad).is_err(), "{bad:?} passed");
        }
        assert_eq!(placeholders("{a}-{b}"), Ok(vec!["a", "b"]));
    }
}
