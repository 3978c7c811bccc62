//! `burrow ps`: Docker's table, `-q`, `--format json|{{.Field}}`, `--filter`.

use anyhow::{bail, Result};
use burrow_engine::{ContainerRecord, ContainerStatus};

use super::time_format::{ago, human_duration, seconds_since};

#[derive(clap::Args)]
pub struct Args {
    /// Show all containers (default: running only).
    #[arg(short, long)]
    all: bool,
    /// Only ids.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate ids and commands.
    #[arg(long)]
    no_trunc: bool,
    /// json, or a Go-style template such as '{{.ID}} {{.Names}}'.
    #[arg(long)]
    format: Option<String>,
    /// Filters: name=, id=, status=, label=KEY[=VALUE].
    #[arg(short, long)]
    filter: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let mut records = store.list()?;
    records.retain(|r| args.all || r.status == ContainerStatus::Running);
    for filter in &args.filter {
        let (key, value) = filter.split_once('=').unwrap_or((filter, ""));
        match key {
            "name" => records.retain(|r| r.name.contains(value)),
            "id" => records.retain(|r| r.id.starts_with(value)),
            "status" => records.retain(|r| r.status.to_string() == value),
            "label" => {
                let (k, v) = value
                    .split_once('=')
                    .map_or((value, None), |(k, v)| (k, Some(v)));
                records.retain(|r| {
                    r.config
                        .labels
                        .get(k)
                        .is_some_and(|x| v.is_none_or(|v| v == x))
                });
            }
            other => bail!("unknown filter {other:?} (name, id, status, label)"),
        }
    }
    records.reverse();
    if args.quiet {
        for r in &records {
            println!("{}", if args.no_trunc { &r.id } else { r.short_id() });
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => {
            let rows: Vec<_> = records.iter().map(|r| row(r, true)).collect();
            println!("{}", serde_json::to_string(&rows)?);
        }
        Some(template) => {
            for r in &records {
                println!("{}", render(template, &row(r, args.no_trunc))?);
            }
        }
        None => print_table(&records, args.no_trunc),
    }
    Ok(0)
}

fn status_text(r: &ContainerRecord) -> String {
    match r.status {
        ContainerStatus::Created => "Created".into(),
        ContainerStatus::Running => format!(
            "Up {}",
            r.started_at
                .as_deref()
                .and_then(seconds_since)
                .map(human_duration)
                .unwrap_or_default()
        ),
        ContainerStatus::Exited => format!(
            "Exited ({}) {}",
            r.exit_code.unwrap_or(0),
            r.finished_at.as_deref().map(ago).unwrap_or_default()
        ),
    }
}

fn row(r: &ContainerRecord, full: bool) -> serde_json::Value {
    let mut command = r.config.args.join(" ");
    if !full && command.len() > 20 {
        command.truncate(19);
        command.push('…');
    }
    serde_json::json!({
        "ID": if full { r.id.as_str() } else { r.short_id() },
        "Image": r.config.image,
        "Command": command,
        "CreatedAt": r.created,
        "RunningFor": ago(&r.created),
        "Status": status_text(r),
        "State": r.status.to_string(),
        "Ports": if r.status == ContainerStatus::Running { r.ports.join(", ") } else { String::new() },
        "Names": r.name,
        "Labels": r.config.labels,
    })
}

fn print_table(records: &[ContainerRecord], full: bool) {
    println!(
        "{:<14}{:<24}{:<24}{:<20}{:<28}{:<10}NAMES",
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"
    );
    for r in records {
        let row = row(r, full);
        let field = |k: &str| row[k].as_str().unwrap_or_default().to_string();
        println!(
            "{:<14}{:<24}{:<24}{:<20}{:<28}{:<10}{}",
            field("ID"),
            truncate(&field("Image"), 23),
            format!("\"{}\"", field("Command")),
            field("RunningFor"),
            field("Status"),
            format!("{} ", field("Ports")),
            field("Names")
        );
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.into();
    }
    text.chars()
        .take(max - 1)
        .chain(std::iter::once('…'))
        .collect()
}

/// `{{.Field}}` substitution, plus `{{json .}}`; `\t` and `\n` escapes.
pub fn render(template: &str, row: &serde_json::Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = template.replace("\\t", "\t").replace("\\n", "\n");
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            bail!("unterminated {{{{ in --format");
        };
        let expr = rest[start + 2..start + end].trim();
        match expr {
            "json ." => out.push_str(&row.to_string()),
            field if field.starts_with('.') => match row.get(&field[1..]) {
                Some(serde_json::Value::String(s)) => out.push_str(s),
                Some(other) => out.push_str(&other.to_string()),
                None => bail!("template: unknown field {field}"),
            },
            other => bail!("template: unsupported expression {other:?}"),
        }
        rest = rest[start + end + 2..].to_string();
    }
    out.push_str(&rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_substitute_fields() {
        let row = serde_json::json!({"ID": "abc", "Names": "web"});
        assert_eq!(render("{{.ID}}\\t{{ .Names }}", &row).unwrap(), "abc\tweb");
        assert!(render("{{.Nope}}", &row).is_err());
        assert!(render("{{.ID", &row).is_err());
    }
}
