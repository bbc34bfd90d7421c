//! Generates the Tauri context and one permission per app command, so the
//! capability file can grant exactly the commands the UI calls.

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(outbox_commands())),
    )
    .expect("tauri-build failed (is ui/dist built? run `npm --prefix ui run build`)");
}

/// Every `#[tauri::command]` in src/commands.rs, src/recipes.rs and src/damaged.rs.
fn outbox_commands() -> &'static [&'static str] {
    &[
        "damaged_database",
        "start_fresh_database",
        "quit",
        "snapshot",
        "status",
        "subscribe",
        "add_paths",
        "add_pasted",
        "import_manifest",
        "prompt_preview",
        "history",
        "job_detail",
        "history_count",
        "retry",
        "retry_failed",
        "cancel",
        "pause",
        "resume",
        "set_priority",
        "clean",
        "accept",
        "regenerate",
        "open_location",
        "get_settings",
        "set_settings",
        "local_api",
        "local_api_token",
        "renew_local_api_token",
        "destinations",
        "copy_text",
        "take_launch_paths",
        "destination_forms",
        "destination_form",
        "save_destination",
        "provider_forms",
        "providers",
        "provider_form",
        "save_provider",
        "remove_provider",
        "test_provider",
        "remove_destination",
        "set_destination_secret",
        "test_destination",
        "recipes",
        "save_recipe",
        "recipe_forms",
        "recipe_form",
        "sketch_recipe",
        "try_recipe",
        "remove_recipe",
    ]
}
