//! `burrow ps`: Docker's table, `-q`, `--format json|{{.Field}}`, `--filter`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use burrow_engine::{ContainerRecord, ContainerStatus, Store};

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
    /// json, table, or a Go-style template such as '{{.ID}} {{.Names}}'.
    #[arg(long)]
    format: Option<String>,
    /// Filters: name=, id=, status=, label=KEY[=VALUE], exited=CODE.
    #[arg(short, long)]
    filter: Vec<String>,
    /// Show the last N created containers (all states).
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Show the latest created container (all states).
    #[arg(short, long)]
    latest: bool,
    /// Show the size of the container's own files.
    #[arg(short, long)]
    size: bool,
}

/// Column titles for `--format 'table {{.Field}}…'`.
const HEADERS: [(&str, &str); 11] = [
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Size", "SIZE"),
];

const STATUSES: [&str; 7] = [
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// `--filter` values grouped by key: values of one key match any, keys all.
fn parse_filters(filters: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for filter in filters {
        let Some((key, value)) = filter.split_once('=') else {
            bail!("bad format of filter (expected name=value): {filter:?}");
        };
        match key {
            "name" | "id" | "label" => {}
            "status" if !STATUSES.contains(&value) => bail!(
                "invalid filter 'status={value}' (use {})",
                STATUSES.join(", ")
            ),
            "status" => {}
            "exited" if value.parse::<i32>().is_err() => {
                bail!("invalid filter 'exited={value}': not a number")
            }
            "exited" => {}
            other => bail!("invalid filter '{other}' (name, id, status, label, exited)"),
        }
        by_key.entry(key.into()).or_default().push(value.into());
    }
    Ok(by_key)
}

fn matches(r: &ContainerRecord, key: &str, value: &str) -> bool {
    match key {
        "name" => r.name.contains(value.trim_start_matches('/')),
        "id" => r.id.starts_with(value),
        "status" => r.state_name() == value,
        "exited" => {
            r.status == ContainerStatus::Exited && r.exit_code.unwrap_or(0).to_string() == value
        }
        "label" => {
            let (k, v) = value
                .split_once('=')
                .map_or((value, None), |(k, v)| (k, Some(v)));
            r.config
                .labels
                .get(k)
                .is_some_and(|x| v.is_none_or(|v| v == x))
        }
        _ => false,
    }
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let filters = match parse_filters(&args.filter) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("burrow: error: {e}");
            return Ok(1);
        }
    };
    let mut records = store.list()?;
    let last = if args.latest { Some(1) } else { args.last };
    // A status or exited filter looks at every container, as -a does.
    let all = args.all
        || last.is_some()
        || filters.contains_key("status")
        || filters.contains_key("exited");
    records.retain(|r| all || r.status == ContainerStatus::Running);
    records.retain(|r| {
        filters
            .iter()
            .all(|(key, values)| values.iter().any(|v| matches(r, key, v)))
    });
    records.reverse();
    if let Some(n) = last {
        records.truncate(n);
    }
    if args.quiet {
        for r in &records {
            println!("{}", if args.no_trunc { &r.id } else { r.short_id() });
        }
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = records
        .iter()
        .map(|r| row(&store, r, args.no_trunc, args.size))
        .collect();
    match args.format.as_deref() {
        Some("json") => {
            for row in &rows {
                println!("{}", serde_json::to_string(row)?);
            }
        }
        Some(table) if table.starts_with("table") => {
            let template = table.trim_start_matches("table").trim();
            if template.is_empty() {
                print_table(&rows, args.size);
            } else {
                print!(
                    "{}",
                    super::table::render_template(template, &HEADERS, &rows)?
                );
            }
        }
        Some(template) => {
            for row in &rows {
                println!("{}", render(template, row)?);
            }
        }
        None => print_table(&rows, args.size),
    }
    Ok(0)
}

fn status_text(r: &ContainerRecord) -> String {
    match r.status {
        ContainerStatus::Created => "Created".into(),
        ContainerStatus::Running => format!(
            "Up {}{}",
            r.started_at
                .as_deref()
                .and_then(seconds_since)
                .map(human_duration)
                .unwrap_or_default(),
            if r.is_paused() { " (Paused)" } else { "" }
        ),
        ContainerStatus::Exited => format!(
            "Exited ({}) {}",
            r.exit_code.unwrap_or(0),
            r.finished_at.as_deref().map(ago).unwrap_or_default()
        ),
    }
}

fn row(store: &Store, r: &ContainerRecord, full: bool, size: bool) -> serde_json::Value {
    let mut command = r.config.args.join(" ");
    if !full && command.chars().count() > 20 {
        command = truncate(&command, 20);
    }
    let size = if size {
        let own = burrow_engine::container::tree_size(&store.container_dir(&r.id).join("upper"));
        human_size(own)
    } else {
        String::new()
    };
    serde_json::json!({
        "ID": if full { r.id.as_str() } else { r.short_id() },
        "Image": r.config.image,
        "Command": format!("\"{command}\""),
        "CreatedAt": r.created,
        "RunningFor": ago(&r.created),
        "Status": status_text(r),
        "State": r.state_name(),
        "Ports": if r.status == ContainerStatus::Running { r.ports.join(", ") } else { String::new() },
        "Names": r.name,
        "Labels": r.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Size": size,
    })
}

fn print_table(rows: &[serde_json::Value], size: bool) {
    let mut header = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec();
    if size {
        header.push("SIZE".into());
    }
    let mut table = vec![header];
    for row in rows {
        let field = |k: &str| row[k].as_str().unwrap_or_default().to_string();
        let mut cells = vec![
            field("ID"),
            field("Image"),
            field("Command"),
            field("RunningFor"),
            field("Status"),
            field("Ports"),
            field("Names"),
        ];
        if size {
            cells.push(field("Size"));
        }
        table.push(cells);
    }
    print!("{}", super::table::render(&table, 10));
}

pub use burrow_engine::units::decimal_size as human_size;

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

    #[test]
    fn filters_are_checked() {
        assert!(parse_filters(&["status=paused".into()]).is_ok());
        assert!(parse_filters(&["status=sleepy".into()]).is_err());
        assert!(parse_filters(&["color=red".into()]).is_err());
        assert!(parse_filters(&["exited=x".into()]).is_err());
        assert!(parse_filters(&["name".into()]).is_err());
    }
}
