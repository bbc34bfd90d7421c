//! Recipes are data: a name and a list of operations, frozen into every job
//! queued with them. The built-in ones need no configuration.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub name: String,
    pub operations: Vec<Operation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Turn the pixels upright as the EXIF orientation says.
    AutoOrient,
    /// Shrink to fit within a square of this many pixels; never enlarge.
    FitWithin { longest_edge: u32 },
    /// Encode as JPEG (transparency flattened onto white; colour profile kept,
    /// other metadata dropped).
    Jpeg { quality: u8 },
    /// Encode as PNG.
    Png,
}

impl Recipe {
    /// Delivered unchanged: the source bytes, after checking they are an image.
    pub fn is_passthrough(&self) -> bool {
        self.operations.is_empty()
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
