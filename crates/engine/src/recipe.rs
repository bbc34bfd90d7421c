//! Recipes are data: a name and a list of operations, frozen into every job
//! queued with them. The built-in ones need no configuration.

use crate::error::{Error, Result};
use crate::template;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub name: String,
    pub operations: Vec<Operation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Ask an AI provider for the image (only as the first operation); the
    /// operations after it work on the provider's image.
    AiGenerate(AiStep),
    /// Turn the pixels upright as the EXIF orientation says.
    AutoOrient,
    /// Shrink to fit within a square of this many pixels; never enlarge.
    FitWithin { longest_edge: u32 },
    /// Resize to a box: `fit` inside it (never enlarged), `fill` it (cover,
    /// then centre crop), or `exact` (stretched).
    Resize {
        mode: ResizeMode,
        width: u32,
        height: u32,
    },
    /// Centre crop to this aspect ratio (e.g. 1:1, 4:5).
    CropToAspect { width: u32, height: u32 },
    /// Centre on a canvas of this aspect ratio, filled with `background`
    /// (`#rrggbb`); nothing is cut off.
    PadToAspect {
        width: u32,
        height: u32,
        background: String,
    },
    /// Encode as JPEG (transparency flattened onto white).
    Jpeg { quality: u8 },
    /// Encode as PNG.
    Png,
    /// Encode as WebP (lossless).
    Webp,
    /// Outputs never carry EXIF or XMP (pixels are re-encoded); this also
    /// drops the colour profile unless `keep_colour_profile`.
    StripMetadata { keep_colour_profile: bool },
    /// Lay an image (a PNG with transparency, say) over a corner: `width` is
    /// its share of the output's width (0–1), `opacity` 0–1, `margin` in pixels.
    Watermark {
        image: std::path::PathBuf,
        corner: Corner,
        width: f32,
        opacity: f32,
        margin: u32,
    },
    /// Write a line of text over a corner: `text` may name the item's fields
    /// (`© {photographer}`), `height` is the font size as a share of the
    /// output's height (0–1), `colour` `#rrggbb`, `opacity` 0–1, `margin` in
    /// pixels. Text too long for the width is made smaller.
    TextWatermark {
        text: String,
        corner: Corner,
        height: f32,
        colour: String,
        opacity: f32,
        margin: u32,
    },
    /// Name the output from a pattern: `{stem}`, `{width}`, `{height}`,
    /// `{recipe}` or any of the item's fields (`{sku}`); the extension
    /// follows the format. An item without a named field fails with the reason.
    Rename { pattern: String },
}

/// `{"op": "ai_generate", "provider": "studio", "prompt": "Catalogue photo
/// of {title}, white background", "mode": "edit"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AiStep {
    /// A provider's name (`outbox provider list`).
    pub provider: String,
    /// Filled from the item's fields (`{title}`); an item without a named
    /// field fails with the reason.
    pub prompt: String,
    #[serde(default)]
    pub mode: AiMode,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiMode {
    /// From the prompt alone; the item's image only names the output.
    #[default]
    Generate,
    /// The item's image is sent with the prompt, to be edited.
    Edit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    Fit,
    Fill,
    Exact,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

/// The largest box or canvas side a recipe may ask for.
pub const MAX_RECIPE_SIDE: u32 = 30_000;

impl Recipe {
    /// Delivered unchanged: the source bytes, after checking they are an image.
    pub fn is_passthrough(&self) -> bool {
        self.operations.is_empty()
    }

    /// The AI step the recipe starts with, if any, and the local operations
    /// that follow it as a recipe of their own.
    pub fn split_ai(&self) -> Option<(&AiStep, Recipe)> {
        match self.operations.split_first() {
            Some((Operation::AiGenerate(step), rest)) => Some((
                step,
                Recipe {
                    name: self.name.clone(),
                    operations: rest.to_vec(),
                },
            )),
            _ => None,
        }
    }

    /// Checks every operation's values; says what is wrong with the first bad one.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let side = |what: &str, n: u32| {
            if (1..=MAX_RECIPE_SIDE).contains(&n) {
                Ok(())
            } else {
                Err(format!("{what} must be 1 to {MAX_RECIPE_SIDE}, not {n}"))
            }
        };
        for (index, op) in self.operations.iter().enumerate() {
            match op {
                Operation::AiGenerate(_) if index > 0 => {
                    return Err("ai_generate must be the first operation".into());
                }
                Operation::AiGenerate(step) => {
                    if step.provider.trim().is_empty() {
                        return Err("ai_generate needs a provider".into());
                    }
                    if step.prompt.trim().is_empty() {
                        return Err("the ai_generate prompt is empty".into());
                    }
                    template::check(&step.prompt).map_err(|e| format!("the prompt: {e}"))?;
                }
                Operation::FitWithin { longest_edge } => side("longest_edge", *longest_edge)?,
                Operation::Resize { width, height, .. }
                | Operation::CropToAspect { width, height } => {
                    side("width", *width)?;
                    side("height", *height)?;
                }
                Operation::PadToAspect {
                    width,
                    height,
                    background,
                } => {
                    side("width", *width)?;
                    side("height", *height)?;
                    parse_colour(background)?;
                }
                Operation::Jpeg { quality } if !(1..=100).contains(quality) => {
                    return Err(format!("JPEG quality must be 1 to 100, not {quality}"));
                }
                Operation::Rename { pattern } => {
                    check_pattern(pattern)?;
                }
                Operation::Watermark { width, opacity, .. } => {
                    share("watermark width", *width)?;
                    check_opacity(*opacity)?;
                }
                Operation::TextWatermark {
                    text,
                    height,
                    colour,
                    opacity,
                    ..
                } => {
                    if text.trim().is_empty() {
                        return Err("the watermark text is empty".into());
                    }
                    template::check(text).map_err(|e| format!("the watermark text: {e}"))?;
                    share("watermark height", *height)?;
                    parse_colour(colour)?;
                    check_opacity(*opacity)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// How many pixels on the longest edge the recipe's output can use at
    /// most, when it shrinks before anything else looks at the pixels: the
    /// decoder may then skip detail that would be thrown away.
    pub fn shrink_on_load(&self) -> Option<u32> {
        for op in &self.operations {
            match op {
                // Turning keeps the longest edge.
                Operation::AutoOrient => continue,
                Operation::FitWithin { longest_edge } => return Some(*longest_edge),
                _ => return None,
            }
        }
        None
    }
}

/// The recipes that exist without any settings.
pub fn builtin_recipes() -> Vec<Recipe> {
    vec![
        Recipe {
            name: "web".into(),
            operations: vec![
                Operation::AutoOrient,
                Operation::FitWithin { longest_edge: 2048 },
                Operation::Jpeg { quality: 90 },
            ],
        },
        Recipe {
            name: "thumbnail".into(),
            operations: vec![
                Operation::AutoOrient,
                Operation::FitWithin { longest_edge: 512 },
                Operation::Jpeg { quality: 85 },
            ],
        },
        Recipe {
            name: "original".into(),
            operations: Vec::new(),
        },
    ]
}

pub const DEFAULT_RECIPE: &str = "web";

pub fn find_recipe(name: &str) -> Result<Recipe> {
    let recipes = builtin_recipes();
    let known = recipes
        .iter()
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    recipes
        .iter()
        .find(|r| r.name == name)
        .cloned()
        .ok_or_else(|| Error::UnknownRecipe {
            name: name.to_string(),
            known,
        })
}

/// `#rrggbb` to its three channels.
pub fn parse_colour(text: &str) -> std::result::Result<[u8; 3], String> {
    let bad = || format!("colour {text:?} is not #rrggbb");
    let hex = text
        .strip_prefix('#')
        .filter(|h| h.len() == 6)
        .ok_or_else(bad)?;
    let channel = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|c| u8::from_str_radix(c, 16).ok())
            .ok_or_else(bad)
    };
    Ok([channel(0)?, channel(2)?, channel(4)?])
}

fn share(what: &str, value: f32) -> std::result::Result<(), String> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(format!("{what} must be above 0 and at most 1, not {value}"))
    }
}

fn check_opacity(opacity: f32) -> std::result::Result<(), String> {
    if (0.0..=1.0).contains(&opacity) {
        Ok(())
    } else {
        Err(format!("watermark opacity must be 0 to 1, not {opacity}"))
    }
}

fn check_pattern(pattern: &str) -> std::result::Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("the rename pattern is empty".into());
    }
    if pattern.contains(['/', '\\', '\0']) {
        return Err(format!(
            "the rename pattern {pattern:?} may not contain / or \\"
        ));
    }
    template::check(pattern).map_err(|e| format!("the rename pattern: {e}"))
}
