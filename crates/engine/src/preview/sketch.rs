//! A recipe tried on a sample while it is edited: the sample is decoded once
//! at a reduced size (shrink on load), and every change of the recipe shapes
//! those pixels again, with the recipe's pixel sizes scaled to them. The
//! exact output (its pixel size, bytes and name) comes from [`trial`], which
//! runs the real pipeline on the whole file.

use super::{encode, Preview};
use crate::codec;
use crate::pipeline::{self, Decoded, Generate, GenerateError, GeneratedImage, LocalPipeline};
use crate::pipeline::{Scale, SourceItem};
use crate::recipe::{Operation, Recipe};
use crate::template::{self, Fields};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The longest edge a sample is decoded at, and the most an enlarging
/// operation draws: enough for a sharp preview, a small part of a photo's
/// pixels.
const SKETCH_EDGE: u32 = 1600;

/// A sample image, decoded once for many sketches.
pub struct Sample {
    path: PathBuf,
    decoded: Decoded,
    /// The longest edge of the whole image.
    longest: u32,
}

impl Sample {
    pub fn load(path: &Path) -> Result<Sample, GenerateError> {
        let bytes = pipeline::read_source(path)?;
        let format = pipeline::sniff_format(path, &bytes)?;
        let (width, height) = pipeline::dimensions(&bytes, format)?;
        let decoded = codec::decode(&bytes, format, Some(SKETCH_EDGE))?;
        Ok(Sample {
            path: path.to_path_buf(),
            decoded,
            longest: width.max(height),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The recipe's local operations applied to the sample, as a preview at
/// most `size` pixels a side. An AI step is not run (it would be paid for):
/// the operations after it are shown on the sample itself.
pub fn sketch(sample: &Sample, recipe: &Recipe, size: u32) -> Result<Preview, GenerateError> {
    let local = local_part(recipe);
    local
        .validate()
        .map_err(|e| GenerateError::permanent(format!("the recipe is invalid: {e}")))?;
    let fields = stand_in_fields(&local);
    let item = SourceItem {
        path: &sample.path,
        fields: Some(&fields),
    };
    let decoded = Decoded {
        image: sample.decoded.image.clone(),
        orientation: sample.decoded.orientation,
        icc: sample.decoded.icc.clone(),
    };
    let mut scale = Scale::Sketch {
        longest: f64::from(sample.longest),
        edge: SKETCH_EDGE,
    };
    let shaped = pipeline::shape(decoded, &local, &item, &mut scale)?;
    let image = codec::fit_within(shaped.image, size.max(1))?;
    encode(&image, shaped.icc.as_deref())
}

/// The real output of the recipe's local operations on the whole sample
/// file: its exact pixel size, bytes and name.
pub fn trial(path: &Path, recipe: &Recipe) -> Result<GeneratedImage, GenerateError> {
    let local = local_part(recipe);
    let fields = stand_in_fields(&local);
    LocalPipeline::default().generate(
        SourceItem {
            path,
            fields: Some(&fields),
        },
        &local,
    )
}

fn local_part(recipe: &Recipe) -> Recipe {
    match recipe.split_ai() {
        Some((_, rest)) => rest,
        None => recipe.clone(),
    }
}

/// Each field the recipe names, filled with its own name in brackets: the
/// sample has no fields, and `© [photographer]` shows where the text goes.
fn stand_in_fields(recipe: &Recipe) -> Fields {
    let mut fields = Fields::new();
    for op in &recipe.operations {
        let text = match op {
            Operation::TextWatermark { text, .. } => text,
            Operation::Rename { pattern } => pattern,
            _ => continue,
        };
        for name in template::placeholders(text).unwrap_or_default() {
            fields.insert(name.to_string(), Value::String(format!("[{name}]")));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::{Corner, ResizeMode};
    use image::{Rgb, RgbImage};

    fn photo(dir: &Path, width: u32, height: u32) -> PathBuf {
        let path = dir.join("sample.jpg");
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        })
        .save(&path)
        .unwrap();
        path
    }

    fn recipe(operations: Vec<Operation>) -> Recipe {
        Recipe {
            name: "try".into(),
            operations,
        }
    }

    fn decoded_size(preview: &Preview) -> (u32, u32) {
        let image = image::load_from_memory(&preview.jpeg).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn a_sketch_has_the_outputs_shape_and_the_trial_its_exact_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = photo(dir.path(), 4000, 3000);
        let sample = Sample::load(&path).unwrap();
        let square = recipe(vec![
            Operation::Resize {
                mode: ResizeMode::Fill,
                width: 1080,
                height: 1080,
            },
            Operation::Jpeg { quality: 80 },
        ]);
        let sketch = sketch(&sample, &square, 512).unwrap();
        assert_eq!((sketch.width, sketch.height), (512, 512));
        assert_eq!(decoded_size(&sketch), (512, 512));
        let out = trial(&path, &square).unwrap();
        assert_eq!((out.width, out.height), (1080, 1080));
        assert_eq!(out.file_name, "sample.jpg");
        assert!(!out.bytes.is_empty());
    }

    #[test]
    fn a_shrinking_recipe_keeps_the_outputs_own_detail_in_the_sketch() {
        let dir = tempfile::tempdir().unwrap();
        let sample = Sample::load(&photo(dir.path(), 4000, 2000)).unwrap();
        // The output is 300 px wide; the sketch shows those 300, not
        // 300 × (sample ÷ original).
        let small = recipe(vec![Operation::FitWithin { longest_edge: 300 }]);
        let sketch = sketch(&sample, &small, 512).unwrap();
        assert_eq!((sketch.width, sketch.height), (300, 150));
    }

    #[test]
    fn changing_the_recipe_changes_the_sketch() {
        let dir = tempfile::tempdir().unwrap();
        let sample = Sample::load(&photo(dir.path(), 1200, 800)).unwrap();
        let plain = sketch(&sample, &recipe(vec![]), 400).unwrap();
        let padded = sketch(
            &sample,
            &recipe(vec![Operation::PadToAspect {
                width: 1,
                height: 1,
                background: "#ff0000".into(),
            }]),
            400,
        )
        .unwrap();
        assert_eq!((plain.width, plain.height), (400, 267));
        assert_eq!((padded.width, padded.height), (400, 400));
        let top = image::load_from_memory(&padded.jpeg).unwrap().to_rgb8();
        let corner = top.get_pixel(5, 5);
        assert!(corner[0] > 200 && corner[1] < 60, "{corner:?}");
    }

    #[test]
    fn named_fields_are_shown_by_name_and_a_bad_recipe_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = photo(dir.path(), 800, 600);
        let sample = Sample::load(&path).unwrap();
        let marked = recipe(vec![
            Operation::TextWatermark {
                text: "© {photographer}".into(),
                corner: Corner::BottomRight,
                height: 0.08,
                colour: "#ffffff".into(),
                opacity: 1.0,
                margin: 12,
            },
            Operation::Rename {
                pattern: "{sku}-{width}".into(),
            },
        ]);
        sketch(&sample, &marked, 256).unwrap();
        assert_eq!(trial(&path, &marked).unwrap().file_name, "[sku]-800.jpg");
        let bad = recipe(vec![Operation::Jpeg { quality: 0 }]);
        let err = sketch(&sample, &bad, 256).unwrap_err();
        assert!(err.message.contains("quality"), "{err}");
        assert!(Sample::load(&dir.path().join("none.jpg")).is_err());
    }
}
