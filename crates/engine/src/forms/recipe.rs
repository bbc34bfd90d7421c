//! What each recipe operation asks for, in the same form language as the
//! destinations' and providers': the app draws one small form per step. A
//! step's values are the operation's own fields, so a recipe and its form
//! are one `{"op": kind, ...values}` apart.

use super::{checked_values, choice, f, FieldError, Input, KindForm, F};
use crate::recipe::{Operation, Recipe};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One step of a recipe as its form holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepValues {
    pub op: String,
    #[serde(default)]
    pub values: Map<String, Value>,
}

/// A problem of one step (`step: None`: of the recipe as a whole, such as
/// its name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepError {
    pub step: Option<usize>,
    #[serde(flatten)]
    pub error: FieldError,
}

const CORNERS: [(&str, &str); 4] = [
    ("bottom_right", "Bottom right"),
    ("bottom_left", "Bottom left"),
    ("top_right", "Top right"),
    ("top_left", "Top left"),
];

fn side(name: &'static str, label: &'static str, default: u32) -> F {
    f(
        name,
        label,
        Input::Number {
            min: 1,
            max: u64::from(crate::recipe::MAX_RECIPE_SIDE),
        },
    )
    .required()
    .default(json!(default))
}

fn share(name: &'static str, label: &'static str, default: f64) -> F {
    f(name, label, Input::Decimal { min: 0.0, max: 1.0 })
        .required()
        .default(json!(default))
}

fn margin() -> F {
    f(
        "margin",
        "Margin (pixels)",
        Input::Number {
            min: 0,
            max: 10_000,
        },
    )
    .required()
    .default(json!(24))
}

fn step(kind: &'static str, label: &'static str, help: &'static str, fields: Vec<F>) -> KindForm {
    KindForm {
        kind,
        label,
        help,
        secret: None,
        fields: fields.into_iter().map(|F(field)| field).collect(),
    }
}

/// Every operation's form, in the order the app offers them.
pub fn recipe_forms() -> Vec<KindForm> {
    vec![
        step("auto_orient", "Turn upright", "Turns the pixels as the camera's EXIF orientation says.", vec![]),
        step(
            "fit_within",
            "Shrink to fit",
            "Shrinks so the longest edge is at most this; never enlarges.",
            vec![side("longest_edge", "Longest edge (pixels)", 2048)],
        ),
        step(
            "resize",
            "Resize to a box",
            "Fit inside the box (never enlarged), fill it (cover, then centre crop) or stretch to it exactly.",
            vec![
                f("mode", "How", choice(&[("fill", "Fill the box (crop)"), ("fit", "Fit inside the box"), ("exact", "Stretch to the box")]))
                    .required()
                    .default(json!("fill")),
                side("width", "Width (pixels)", 1080),
                side("height", "Height (pixels)", 1080),
            ],
        ),
        step(
            "crop_to_aspect",
            "Crop to a shape",
            "Keeps the largest centred part with this aspect ratio (1:1, 4:5, 16:9).",
            vec![side("width", "Ratio width", 1), side("height", "Ratio height", 1)],
        ),
        step(
            "pad_to_aspect",
            "Pad to a shape",
            "Centres the image on a canvas of this aspect ratio; nothing is cut off.",
            vec![
                side("width", "Ratio width", 1),
                side("height", "Ratio height", 1),
                f("background", "Background", Input::Colour).required().default(json!("#ffffff")),
            ],
        ),
        step(
            "watermark",
            "Logo in a corner",
            "Lays an image (a PNG with transparency, say) over a corner.",
            vec![
                f("image", "Logo file", Input::File).required().example("/home/me/logo.png"),
                f("corner", "Corner", choice(&CORNERS)).required().default(json!("bottom_right")),
                share("width", "Width, as a share of the image's (0–1)", 0.2),
                share("opacity", "Opacity (0–1)", 0.8),
                margin(),
            ],
        ),
        step(
            "text_watermark",
            "Text in a corner",
            "Writes a line of text over a corner; text too long for the width is made smaller.",
            vec![
                f("text", "Text", Input::Text)
                    .required()
                    .example("© {photographer}")
                    .help("May name the item's fields, such as {photographer}."),
                f("corner", "Corner", choice(&CORNERS)).required().default(json!("bottom_right")),
                share("height", "Height, as a share of the image's (0–1)", 0.04),
                f("colour", "Colour", Input::Colour).required().default(json!("#ffffff")),
                share("opacity", "Opacity (0–1)", 0.8),
                margin(),
            ],
        ),
        step(
            "jpeg",
            "Save as JPEG",
            "Transparency is flattened onto white.",
            vec![f("quality", "Quality", Input::Number { min: 1, max: 100 })
                .required()
                .default(json!(85))],
        ),
        step("png", "Save as PNG", "Lossless, keeps transparency.", vec![]),
        step("webp", "Save as WebP", "Lossless WebP.", vec![]),
        step(
            "strip_metadata",
            "Remove metadata",
            "Outputs never carry EXIF or XMP; this also drops the colour profile unless kept.",
            vec![f("keep_colour_profile", "Keep the colour profile", Input::Toggle).default(json!(true))],
        ),
        step(
            "rename",
            "Name the output",
            "The extension follows the format.",
            vec![f("pattern", "Name", Input::Text)
                .required()
                .example("{stem}-{width}w")
                .help("{stem}, {width}, {height}, {recipe} or any of the item's fields, such as {sku}.")],
        ),
        step(
            "ai_generate",
            "Generate with AI",
            "Asks an AI provider for the image (only as the first step); each image is paid for.",
            vec![
                f("provider", "Provider", Input::Text).required().example("studio").help("An AI provider's name from the settings."),
                f("prompt", "Prompt", Input::Text)
                    .required()
                    .example("Catalogue photo of {title}, white background")
                    .help("May name the item's fields, such as {title}."),
                f("mode", "From", choice(&[("generate", "The prompt alone"), ("edit", "The item's image and the prompt")]))
                    .default(json!("generate")),
            ],
        ),
    ]
}

/// A recipe from its filled form, or every step's problems.
pub fn recipe_from_form(name: &str, steps: &[StepValues]) -> Result<Recipe, Vec<StepError>> {
    let forms = recipe_forms();
    let mut errors = Vec::new();
    let name = name.trim();
    if name.is_empty() {
        errors.push(StepError {
            step: None,
            error: FieldError::on("name", "A recipe needs a name."),
        });
    }
    let mut operations = Vec::new();
    for (index, values) in steps.iter().enumerate() {
        match operation(&forms, index, values) {
            Ok(op) => operations.push(op),
            Err(found) => errors.extend(found.into_iter().map(|error| StepError {
                step: Some(index),
                error,
            })),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Recipe {
        name: name.to_string(),
        operations,
    })
}

fn operation(
    forms: &[KindForm],
    index: usize,
    step: &StepValues,
) -> Result<Operation, Vec<FieldError>> {
    let form = forms.iter().find(|f| f.kind == step.op).ok_or_else(|| {
        vec![FieldError::whole(format!(
            "{:?} is not an operation Outbox knows.",
            step.op
        ))]
    })?;
    if step.op == "ai_generate" && index > 0 {
        return Err(vec![FieldError::whole("An AI step must be the first.")]);
    }
    let mut values = checked_values(form, &step.values)?;
    values.insert("op".into(), json!(step.op));
    let op: Operation = serde_json::from_value(Value::Object(values))
        .map_err(|e| vec![FieldError::whole(format!("{}: {e}", form.label))])?;
    // The recipe's own rules (a colour's form, a template's braces).
    let alone = Recipe {
        name: String::new(),
        operations: vec![op],
    };
    alone.validate().map_err(|m| vec![FieldError::whole(m)])?;
    let [op] = <[Operation; 1]>::try_from(alone.operations).map_err(|_| Vec::new())?;
    Ok(op)
}

/// A saved recipe's steps as its form's values, for editing.
pub fn recipe_form_steps(recipe: &Recipe) -> Vec<StepValues> {
    recipe
        .operations
        .iter()
        .filter_map(|op| match serde_json::to_value(op) {
            Ok(Value::Object(mut values)) => {
                let op = values.remove("op")?.as_str()?.to_string();
                Some(StepValues { op, values })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::filled;
    use super::*;
    use crate::recipe::builtin_recipes;

    #[test]
    fn every_operations_form_filled_with_its_defaults_makes_a_valid_recipe() {
        for form in recipe_forms() {
            let steps = [StepValues {
                op: form.kind.into(),
                values: filled(&form),
            }];
            let recipe =
                recipe_from_form("r", &steps).unwrap_or_else(|e| panic!("{}: {e:?}", form.kind));
            recipe.validate().unwrap();
        }
    }

    #[test]
    fn every_builtin_recipe_goes_through_its_form_unchanged() {
        for recipe in builtin_recipes() {
            let again = recipe_from_form(&recipe.name, &recipe_form_steps(&recipe)).unwrap();
            assert_eq!(again, recipe);
        }
    }

    #[test]
    fn each_bad_step_and_field_gets_its_own_message() {
        let steps = [
            StepValues {
                op: "resize".into(),
                values: json!({"mode": "fill", "width": "wide", "height": 0})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            StepValues {
                op: "jpeg".into(),
                values: json!({"quality": 101}).as_object().unwrap().clone(),
            },
            StepValues {
                op: "ai_generate".into(),
                values: json!({"provider": "p", "prompt": "x"})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            StepValues {
                op: "pad_to_aspect".into(),
                values: json!({"width": 1, "height": 1, "background": "red"})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            StepValues {
                op: "blur".into(),
                values: Map::new(),
            },
        ];
        let errors = recipe_from_form(" ", &steps).unwrap_err();
        let at: Vec<(Option<usize>, Option<&str>)> = errors
            .iter()
            .map(|e| (e.step, e.error.field.as_deref()))
            .collect();
        assert_eq!(
            at,
            [
                (None, Some("name")),
                (Some(0), Some("width")),
                (Some(0), Some("height")),
                (Some(1), Some("quality")),
                (Some(2), None),
                (Some(3), Some("background")),
                (Some(4), None),
            ],
            "{errors:?}"
        );
        assert!(errors[6].error.message.contains("blur"), "{errors:?}");
    }
}
