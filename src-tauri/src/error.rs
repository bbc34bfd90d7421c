//! The one error type every command returns: the engine's message, and a kind
//! the UI can branch on without parsing words.

use outbox_engine::forms::{FieldError, StepError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Engine(#[from] outbox_engine::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Shell(String),
    /// A form's fields, each with its problem.
    #[error("{}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join(" "))]
    Fields(Vec<FieldError>),
    /// A recipe form's steps, each problem on its step and field.
    #[error("{}", .0.iter().map(|e| e.error.message.as_str()).collect::<Vec<_>>().join(" "))]
    Steps(Vec<StepError>),
}

impl CommandError {
    fn kind(&self) -> &'static str {
        match self {
            CommandError::Engine(outbox_engine::Error::DestinationCheck { .. }) => "check",
            CommandError::Engine(_) => "engine",
            CommandError::Invalid(_) => "invalid",
            CommandError::Shell(_) => "shell",
            CommandError::Fields(_) => "fields",
            CommandError::Steps(_) => "steps",
        }
    }
}

/// Sent to the webview as `{ "kind": …, "message": …, "fields": […],
/// "steps": […] }` (`fields` empty but for a form's errors, and for a failed
/// destination test that blames one setting: its message on that field;
/// `steps` empty but for a recipe form's errors).
impl Serialize for CommandError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("CommandError", 4)?;
        out.serialize_field("kind", self.kind())?;
        out.serialize_field("message", &self.to_string())?;
        let blamed;
        let fields: &[FieldError] = match self {
            CommandError::Fields(fields) => fields.as_slice(),
            CommandError::Engine(e) => {
                blamed = e
                    .field()
                    .map(|field| FieldError {
                        field: Some(field.to_string()),
                        message: e.to_string(),
                    })
                    .into_iter()
                    .collect::<Vec<_>>();
                blamed.as_slice()
            }
            _ => &[],
        };
        out.serialize_field("fields", fields)?;
        let steps: &[StepError] = match self {
            CommandError::Steps(steps) => steps.as_slice(),
            _ => &[],
        };
        out.serialize_field("steps", steps)?;
        out.end()
    }
}

/// An image that cannot be made (a recipe tried on a sample): its reason.
impl From<outbox_engine::pipeline::GenerateError> for CommandError {
    fn from(e: outbox_engine::pipeline::GenerateError) -> Self {
        CommandError::Invalid(e.message)
    }
}

impl From<tauri::Error> for CommandError {
    fn from(e: tauri::Error) -> Self {
        CommandError::Shell(e.to_string())
    }
}

pub type CommandResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_test_names_the_field_it_blames() {
        let error = CommandError::Engine(outbox_engine::Error::DestinationCheck {
            message: "the credentials were refused".into(),
            field: Some("secret"),
        });
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({
                "kind": "check",
                "message": "the credentials were refused",
                "fields": [{"field": "secret", "message": "the credentials were refused"}],
                "steps": [],
            })
        );
        let unblamed = CommandError::Engine(outbox_engine::Error::DestinationCheck {
            message: "the storage service is busy".into(),
            field: None,
        });
        let value = serde_json::to_value(&unblamed).unwrap();
        assert_eq!(value["kind"], "check");
        assert_eq!(value["fields"], serde_json::json!([]));
    }
}
