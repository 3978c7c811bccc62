//! Image commands: `burrow image VERB` and Docker's top-level shortcuts (`pull`, `push`,
//! `images`, `rmi`, `tag`, `load`, `save`, `import`, `history`). One module per verb;
//! each parses, calls `burrow_engine::images` and prints. Errors are one line and exit
//! code 1, as Docker's image commands do.

mod display;
pub mod history;
pub mod import;
pub mod inspect;
pub mod list;
pub mod load;
pub mod login;
pub mod logout;
mod prune;
pub mod pull;
pub mod push;
pub mod rm;
pub mod save;
pub mod tag;

use std::path::Path;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(visible_alias = "list")]
    Ls(list::Args),
    /// Show images as JSON.
    Inspect(inspect::Args),
    /// Remove images.
    #[command(visible_alias = "remove")]
    Rm(rm::Args),
    /// Give an image another name.
    Tag(tag::Args),
    /// Download an image from a registry.
    Pull(pull::Args),
    /// Upload an image to a registry.
    Push(push::Args),
    /// Load images from a docker-archive or oci-archive (stdin by default).
    Load(load::Args),
    /// Write images as a docker-archive or oci-archive (stdout by default).
    Save(save::Args),
    /// Make an image from a rootfs tarball.
    Import(import::Args),
    /// Remove unused images and content.
    Prune(prune::Args),
    /// Show the history of an image.
    History(history::Args),
}

/// Runs an image command; returns the exit code.
pub fn main(root: Option<&Path>, command: ImageCommand) -> i32 {
    report(match command {
        ImageCommand::Ls(a) => list::run(root, a),
        ImageCommand::Inspect(a) => inspect::run(root, a),
        ImageCommand::Rm(a) => rm::run(root, a),
        ImageCommand::Tag(a) => tag::run(root, a),
        ImageCommand::Pull(a) => pull::run(root, a),
        ImageCommand::Push(a) => push::run(root, a),
        ImageCommand::Load(a) => load::run(root, a),
        ImageCommand::Save(a) => save::run(root, a),
        ImageCommand::Import(a) => import::run(root, a),
        ImageCommand::Prune(a) => prune::run(root, a),
        ImageCommand::History(a) => history::run(root, a),
    })
}

/// Prints an image command's error as one line; returns the exit code (1 on errors).
pub fn report(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("burrow: error: {}", one_line(&e));
            1
        }
    }
}

/// How pull, push and login reach a registry.
#[derive(clap::Args, Clone, Debug)]
pub struct RegistryFlags {
    /// Require HTTPS with verified certificates (`--tls-verify=false` also allows plain
    /// HTTP and any certificate; loopback and insecure registries never require it).
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    tls_verify: bool,
}

impl RegistryFlags {
    pub fn settings(&self) -> burrow_engine::images::RegistrySettings {
        burrow_engine::images::RegistrySettings {
            tls_verify: self.tls_verify,
        }
    }
}

/// The error and its causes on one line, skipping causes the message already quotes
/// (the library's messages embed their sources).
pub fn one_line(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

pub use burrow_engine::units::image_size as human_size;

/// `{{.Field}}`, `{{.A.B}}` and `{{json .X}}` substitution; `\t` and `\n` escapes.
pub fn render(template: &str, value: &serde_json::Value) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template.replace("\\t", "\t").replace("\\n", "\n");
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            anyhow::bail!("unterminated {{{{ in --format");
        };
        let expr = rest[start + 2..start + end].trim();
        let (as_json, path) = match expr.strip_prefix("json ") {
            Some(path) => (true, path.trim()),
            None => (false, expr),
        };
        let Some(path) = path.strip_prefix('.') else {
            anyhow::bail!("template: unsupported expression {expr:?}");
        };
        let mut field = value;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            field = field
                .get(key)
                .ok_or_else(|| anyhow::anyhow!("template: no field {key:?} in {expr:?}"))?;
        }
        match field {
            serde_json::Value::String(s) if !as_json => out.push_str(s),
            serde_json::Value::Array(items) if !as_json => {
                let words: Vec<String> = items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect();
                out.push_str(&format!("[{}]", words.join(" ")));
            }
            other => out.push_str(&other.to_string()),
        }
        rest = rest[start + end + 2..].to_string();
    }
    out.push_str(&rest);
    Ok(out)
}

/// Prints rows as Docker's tabwriter does: columns padded to the widest cell plus 3.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}", width = widths[i] + 3));
            }
        }
        println!("{}", text.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `12 seconds ago` from an RFC 3339 time, `N/A` when unknown.
pub fn created_since(created: Option<&str>) -> String {
    created
        .map(super::time_format::ago)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "N/A".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_reach_nested_fields() {
        let value = serde_json::json!({"Id": "sha256:1", "Config": {"Cmd": ["sh", "-c"]}});
        assert_eq!(render("{{.Id}}", &value).unwrap(), "sha256:1");
        assert_eq!(render("{{.Config.Cmd}}", &value).unwrap(), "[sh -c]");
        assert_eq!(
            render("{{json .Config.Cmd}}", &value).unwrap(),
            r#"["sh","-c"]"#
        );
        assert!(render("{{.Nope}}", &value).is_err());
    }
}
