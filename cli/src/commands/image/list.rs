//! `burrow images` / `burrow image ls`: one row per name (one `<none>` row for an image
//! without names), newest first.

use anyhow::{bail, Result};
use burrow_engine::images::{self, split_name, ImageInfo};

use super::{created_since, human_size, print_table, render};

#[derive(clap::Args)]
pub struct Args {
    /// Show all images (burrow keeps no intermediate images, so this changes nothing).
    #[arg(short, long)]
    all: bool,
    /// Only image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Don't truncate ids.
    #[arg(long)]
    no_trunc: bool,
    /// json, or a template such as '{{.Repository}}:{{.Tag}}'.
    #[arg(long)]
    format: Option<String>,
    /// Filters: dangling=true|false, reference=NAME[:TAG].
    #[arg(short, long)]
    filter: Vec<String>,
    /// Only images of this repository (and tag).
    repository: Option<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let _ = args.all;
    let mut rows: Vec<serde_json::Value> = images::list(&store)?
        .iter()
        .flat_map(|info| rows_of(info, args.no_trunc))
        .filter(|row| matches_filter(row, args.repository.as_deref()))
        .collect();
    for filter in &args.filter {
        let (key, value) = filter.split_once('=').unwrap_or((filter, ""));
        match key {
            "dangling" => {
                let dangling = match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter {filter:?}: dangling takes true or false"),
                };
                rows.retain(|row| (row["Repository"] == "<none>") == dangling);
            }
            "reference" => rows.retain(|row| matches_filter(row, Some(value))),
            other => bail!("unknown filter {other:?} (dangling, reference)"),
        }
    }
    if args.quiet {
        let mut seen = Vec::new();
        for row in &rows {
            let id = row["ID"].as_str().unwrap_or_default().to_string();
            if !seen.contains(&id) {
                println!("{id}");
                seen.push(id);
            }
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => {
            for row in &rows {
                println!("{row}");
            }
        }
        Some(template) if template != "table" => {
            for row in &rows {
                println!("{}", render(template, row)?);
            }
        }
        _ => print_rows(&rows, args.digests),
    }
    Ok(0)
}

fn rows_of(info: &ImageInfo, full: bool) -> Vec<serde_json::Value> {
    let record = &info.record;
    let id = if full {
        record.id.to_string()
    } else {
        record.id.short().to_string()
    };
    let mut names: Vec<(String, String)> = record
        .names
        .iter()
        .map(|n| {
            let (repo, tag) = split_name(n);
            (repo.to_string(), tag.to_string())
        })
        .collect();
    if names.is_empty() {
        names.push(("<none>".into(), "<none>".into()));
    }
    names
        .into_iter()
        .map(|(repository, tag)| {
            let digest = record
                .repo_digests
                .iter()
                .find_map(|d| {
                    let (repo, digest) = d.split_once('@')?;
                    (images::familiar_name(repo) == repository).then(|| digest.to_string())
                })
                .unwrap_or_else(|| "<none>".into());
            serde_json::json!({
                "Containers": "N/A",
                "CreatedAt": info.config.created.clone().unwrap_or_default(),
                "CreatedSince": created_since(info.config.created.as_deref()),
                "Digest": digest,
                "ID": id,
                "Repository": repository,
                "SharedSize": "N/A",
                "Size": human_size(record.size),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(record.size),
            })
        })
        .collect()
}

fn matches_filter(row: &serde_json::Value, wanted: Option<&str>) -> bool {
    let Some(wanted) = wanted else {
        return true;
    };
    let Ok(reference) = images::parse_reference(wanted) else {
        return false;
    };
    let full = reference.to_string();
    let (repository, tag) = split_name(&full);
    let has_tag = wanted
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    row["Repository"] == repository && (!has_tag || row["Tag"] == tag)
}

fn print_rows(rows: &[serde_json::Value], digests: bool) {
    let field =
        |row: &serde_json::Value, key: &str| row[key].as_str().unwrap_or_default().to_string();
    let mut header = vec!["REPOSITORY", "TAG"];
    if digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![field(row, "Repository"), field(row, "Tag")];
            if digests {
                cells.push(field(row, "Digest"));
            }
            cells.extend([
                field(row, "ID"),
                field(row, "CreatedSince"),
                field(row, "Size"),
            ]);
            cells
        })
        .collect();
    print_table(&header, &table);
}
