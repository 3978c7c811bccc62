//! `burrow image inspect`: Docker's JSON array of image objects.

use anyhow::Result;
use burrow_engine::images::{self, familiar_name, ImageInfo};
use serde_json::{json, Map, Value};

#[derive(clap::Args)]
pub struct Args {
    /// A template such as '{{.Id}}' or '{{json .Config.Cmd}}' instead of JSON.
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.images {
        match images::inspect(&store, name) {
            Ok(info) => found.push(to_docker_json(&info)),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    match args.format.as_deref() {
        Some(template) if template != "json" => {
            for value in &found {
                println!("{}", super::render(template, value)?);
            }
        }
        _ => println!("{}", serde_json::to_string_pretty(&Value::Array(found))?),
    }
    Ok(if failed { 1 } else { 0 })
}

fn list_or_null(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

fn set_or_null(items: &[String]) -> Value {
    if items.is_empty() {
        return Value::Null;
    }
    Value::Object(items.iter().map(|i| (i.clone(), json!({}))).collect())
}

pub fn to_docker_json(info: &ImageInfo) -> Value {
    let record = &info.record;
    let defaults = &info.config.defaults;
    let mut config = Map::new();
    config.insert(
        "User".into(),
        json!(defaults.user.clone().unwrap_or_default()),
    );
    if !defaults.exposed_ports.is_empty() {
        config.insert("ExposedPorts".into(), set_or_null(&defaults.exposed_ports));
    }
    config.insert("Env".into(), list_or_null(&defaults.env));
    config.insert("Cmd".into(), list_or_null(&defaults.cmd));
    config.insert("Volumes".into(), set_or_null(&defaults.volumes));
    config.insert(
        "WorkingDir".into(),
        json!(defaults.workdir.clone().unwrap_or_default()),
    );
    config.insert("Entrypoint".into(), list_or_null(&defaults.entrypoint));
    config.insert(
        "Labels".into(),
        if defaults.labels.is_empty() {
            Value::Null
        } else {
            json!(defaults.labels)
        },
    );
    if let Some(signal) = &defaults.stop_signal {
        config.insert("StopSignal".into(), json!(signal));
    }
    let mut image = json!({
        "Id": record.id.to_string(),
        "RepoTags": record.names.iter().map(|n| familiar_name(n)).collect::<Vec<_>>(),
        "RepoDigests": record.repo_digests.iter().map(|n| familiar_name(n)).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": info.config.history.last().map(|h| h.comment.clone()).unwrap_or_default(),
        "Created": info.config.created.clone().unwrap_or_default(),
        "Author": info.config.author,
        "Config": Value::Object(config),
        "Architecture": info.config.architecture,
        "Os": info.config.os,
        "Size": record.size,
        "RootFS": {"Type": "layers", "Layers": info.config.diff_ids},
    });
    if let Some(variant) = &info.config.variant {
        image["Variant"] = json!(variant);
    }
    image
}
