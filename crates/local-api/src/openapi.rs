//! `GET /v1/openapi.json`: the API described (OpenAPI 3.1). The same
//! document is kept in `docs/openapi.json`; a test fails when they differ
//! (`OUTBOX_WRITE_OPENAPI=1 cargo test -p outbox-local-api` rewrites it).

use axum::Json;
use serde_json::{json, Value};

pub(crate) async fn handler() -> Json<Value> {
    Json(document())
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn json_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    })
}

/// The errors every authenticated route may answer.
fn common_errors() -> Value {
    json!({
        "401": error_response("No bearer token, or not this server's."),
        "403": error_response("Host is not 127.0.0.1, localhost or [::1] with this port, or Origin is not a loopback page."),
        "413": error_response("The body is larger than the server's limit."),
        "429": error_response("Too many requests (Retry-After: 1).")
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

fn id_param(what: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": what, "schema": { "type": "integer" } })
}

fn wait_param() -> Value {
    json!({
        "name": "wait", "in": "query", "required": false,
        "description": "Seconds (at most the server's limit, 120 by default) to wait for it to finish before answering; the answer comes as soon as it has.",
        "schema": { "type": "number", "minimum": 0 }
    })
}

fn batch_param() -> Value {
    json!({ "name": "batch", "in": "query", "required": false, "description": "Only this batch (default: the whole queue).", "schema": { "type": "integer" } })
}

/// The document.
pub fn document() -> Value {
    let add_options = json!({
        "destination": { "type": "string", "description": "Destination name (default: the folder ~/Pictures/Outbox). Alias: to." },
        "recipe": { "type": "string", "description": "web (default), thumbnail, original, or a saved recipe." },
        "batch": { "type": "string", "description": "A name for the batch." },
        "priority": { "type": "integer", "default": 0, "description": "Higher runs first." },
        "sequential": { "type": "boolean", "default": false, "description": "Deliver this batch strictly in order." },
        "fields": { "type": "object", "additionalProperties": true, "description": "Fields for every item (title, alt_text…)." },
        "review": { "type": "boolean", "default": false, "description": "Hold each output until accepted." },
        "force": { "type": "boolean", "default": false, "description": "Queue again what is queued or delivered already." },
        "max_attempts": { "type": "integer", "minimum": 1, "default": 3 }
    });
    let add_json = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": merge(json!({
            "paths": { "type": "array", "items": { "type": "string" }, "description": "Absolute paths of image files or folders (recursively), as `outbox add` takes them." },
            "urls": { "type": "array", "items": { "type": "string", "format": "uri" }, "description": "http(s) URLs downloaded into the data folder; public addresses only." }
        }), add_options.clone())
    });
    let add_multipart = json!({
        "type": "object",
        "description": "File parts (any part with a file name), and text parts named like the JSON keys: path, url and field (key=value) repeatable, fields a JSON object.",
        "properties": merge(json!({
            "file": { "type": "array", "items": { "type": "string", "format": "binary" } },
            "path": { "type": "string" },
            "url": { "type": "string" },
            "field": { "type": "string", "description": "key=value" }
        }), add_options)
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Outbox local API",
            "version": "1",
            "description": "Send images to Outbox's queue and follow them, from programs on this computer. Served on 127.0.0.1 and ::1 only (`outbox serve`, or the desktop app once turned on in its settings). Every request under /v1 but this document needs `Authorization: Bearer <token>`; Host must name the loopback address and port; a request with a non-loopback Origin is refused."
        },
        "servers": [ { "url": format!("http://127.0.0.1:{}", crate::DEFAULT_PORT) } ],
        "security": [ { "bearer": [] } ],
        "paths": {
            "/v1/items": {
                "post": {
                    "summary": "Queue images (files sent, paths, URLs) as one batch.",
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/json": { "schema": add_json },
                            "multipart/form-data": { "schema": add_multipart }
                        }
                    },
                    "responses": merge(json!({
                        "202": merge(json_response("Queued. Location: the batch; each item has its own location.", "AddAnswer"),
                            json!({ "headers": { "Location": { "schema": { "type": "string" }, "description": "/v1/batches/{id}" } } })),
                        "200": json_response("Nothing new: every image is queued or delivered already (see duplicates).", "AddAnswer"),
                        "400": error_response("A malformed body."),
                        "422": json_response("Nothing could be queued (see refused), or an unknown destination or recipe.", "AddAnswer")
                    }), common_errors())
                }
            },
            "/v1/items/{id}": {
                "get": {
                    "summary": "An item: state, phase, progress, attempts with their errors, its link.",
                    "parameters": [ id_param("The item (job) id."), wait_param() ],
                    "responses": merge(json!({
                        "200": json_response("The item.", "Item"),
                        "404": error_response("No such item.")
                    }), common_errors())
                }
            },
            "/v1/items/{id}/retry": {
                "post": {
                    "summary": "Put a failed or cancelled item back at the front of the queue.",
                    "parameters": [ id_param("The item (job) id.") ],
                    "responses": merge(json!({
                        "200": json_response("The item, pending again.", "Item"),
                        "404": error_response("No such item."),
                        "409": error_response("The item is not failed or cancelled, or would duplicate another.")
                    }), common_errors())
                }
            },
            "/v1/items/{id}/cancel": {
                "post": {
                    "summary": "Cancel an item (one in progress is stopped).",
                    "parameters": [ id_param("The item (job) id.") ],
                    "responses": merge(json!({
                        "200": json_response("The item, cancelled.", "Item"),
                        "404": error_response("No such item."),
                        "409": error_response("The item is finished already.")
                    }), common_errors())
                }
            },
            "/v1/batches/{id}": {
                "get": {
                    "summary": "A batch: counts, progress, its items.",
                    "parameters": [ id_param("The batch id."), wait_param() ],
                    "responses": merge(json!({
                        "200": json_response("The batch.", "Batch"),
                        "404": error_response("No such batch.")
                    }), common_errors())
                }
            },
            "/v1/status": {
                "get": {
                    "summary": "Counts per state, what is in flight, batches: as `outbox status --json`.",
                    "responses": merge(json!({ "200": { "description": "The status.", "content": { "application/json": { "schema": { "type": "object" } } } } }), common_errors())
                }
            },
            "/v1/pause": {
                "post": {
                    "summary": "Pause the queue (nothing new starts) or one batch.",
                    "parameters": [ batch_param() ],
                    "responses": merge(json!({ "200": json_response("Paused.", "Paused"), "404": error_response("No such batch.") }), common_errors())
                }
            },
            "/v1/resume": {
                "post": {
                    "summary": "Resume the queue or one batch.",
                    "parameters": [ batch_param() ],
                    "responses": merge(json!({ "200": json_response("Resumed.", "Paused"), "404": error_response("No such batch.") }), common_errors())
                }
            },
            "/v1/events": {
                "get": {
                    "summary": "Server-sent events: the queue's event stream (jobs_queued, job_changed, bytes_sent, counts_changed, generation_stage), each with an id.",
                    "description": "Reconnect with Last-Event-ID to get what was missed: the server keeps its latest events (4096 by default). When the id is older than that, from an earlier server run, or unreadable, or when the client fell behind, a `resync` event says so: read /v1/status (and the items followed) again. Its id is the newest, so the next reconnect resumes from there.",
                    "parameters": [ { "name": "Last-Event-ID", "in": "header", "required": false, "schema": { "type": "string" } } ],
                    "responses": merge(json!({ "200": { "description": "The stream.", "content": { "text/event-stream": { "schema": { "type": "string" } } } } }), common_errors())
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document (no token needed).",
                    "security": [],
                    "responses": { "200": { "description": "OpenAPI 3.1.", "content": { "application/json": { "schema": { "type": "object" } } } } }
                }
            }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "`outbox serve`: the token in <data folder>/api-token, --token-file, or OUTBOX_API_TOKEN." } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "AddAnswer": {
                    "type": "object",
                    "properties": {
                        "batch_id": { "type": ["integer", "null"] },
                        "location": { "type": ["string", "null"], "description": "/v1/batches/{id}" },
                        "items": { "type": "array", "items": { "type": "object", "properties": {
                            "id": { "type": "integer" }, "location": { "type": "string" }, "source": { "type": "string" } } } },
                        "duplicates": { "type": "array", "items": { "type": "object", "properties": {
                            "source": { "type": "string" }, "existing_job": { "type": "integer" }, "location": { "type": "string" },
                            "state": { "$ref": "#/components/schemas/State" }, "url": { "type": ["string", "null"] } } } },
                        "refused": { "type": "array", "items": { "type": "object", "properties": {
                            "input": { "type": "string" }, "reason": { "type": "string" } } } },
                        "error": { "type": "string" }
                    }
                },
                "State": { "type": "string", "enum": ["pending", "processing", "completed", "failed", "paused", "cancelled"] },
                "Item": {
                    "type": "object",
                    "description": "The job as `outbox history --json` shows it, and more.",
                    "properties": {
                        "id": { "type": "integer" }, "batch_id": { "type": "integer" }, "location": { "type": "string" },
                        "source": { "type": "string" }, "destination": { "type": "string" }, "recipe": { "type": "string" },
                        "state": { "$ref": "#/components/schemas/State" },
                        "phase": { "type": "string", "enum": ["generate", "upload"] },
                        "finished": { "type": "boolean", "description": "Completed, failed or cancelled (and not held for review)." },
                        "progress": { "type": "object", "properties": {
                            "percent": { "type": "number", "description": "Generating is 0–50, uploading 50–100 by bytes sent, completed 100." },
                            "bytes_sent": { "type": "integer" }, "bytes_total": { "type": ["integer", "null"] } } },
                        "attempts": { "type": "integer" }, "max_attempts": { "type": "integer" },
                        "error": { "type": ["object", "null"], "properties": { "class": { "type": "string", "enum": ["transient", "permanent", "needs_user"] }, "message": { "type": "string" } } },
                        "link": { "type": ["string", "null"], "description": "Where the delivered output is." },
                        "attempt_log": { "type": "array", "items": { "type": "object" }, "description": "Every attempt: phase, times, outcome, error." },
                        "output": { "type": ["object", "null"] }, "fields": { "type": ["object", "null"] }
                    }
                },
                "Batch": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "integer" }, "name": { "type": "string" }, "location": { "type": "string" },
                        "counts": { "type": "object" }, "finished": { "type": "boolean" },
                        "percent": { "type": "number", "description": "Finished items out of all." },
                        "items": { "type": "array", "items": { "type": "object", "properties": {
                            "id": { "type": "integer" }, "location": { "type": "string" }, "source": { "type": "string" },
                            "state": { "$ref": "#/components/schemas/State" }, "link": { "type": ["string", "null"] } } } }
                    }
                },
                "Paused": { "type": "object", "properties": { "batch": { "type": ["integer", "null"] }, "paused": { "type": "boolean" }, "jobs": { "type": "integer" } } }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/openapi.json is this document, so the docs cannot drift.
    #[test]
    fn docs_openapi_json_is_the_served_document() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let text = serde_json::to_string_pretty(&document()).expect("JSON") + "\n";
        if std::env::var_os("OUTBOX_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &text).expect("write docs/openapi.json");
        }
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == text,
            "docs/openapi.json differs from the served document; run OUTBOX_WRITE_OPENAPI=1 cargo test -p outbox-local-api"
        );
    }

    #[test]
    fn every_route_is_described() {
        let doc = document();
        for path in [
            "/v1/items",
            "/v1/items/{id}",
            "/v1/items/{id}/retry",
            "/v1/items/{id}/cancel",
            "/v1/batches/{id}",
            "/v1/status",
            "/v1/pause",
            "/v1/resume",
            "/v1/events",
            "/v1/openapi.json",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
    }
}
