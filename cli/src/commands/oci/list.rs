//! `burrow oci list`.

use anyhow::Result;

use super::Global;

#[derive(clap::Args)]
pub struct Args {
    /// table or json.
    #[arg(short, long, default_value = "table")]
    format: String,
    /// Print only the ids.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(global: &Global, args: Args) -> Result<i32> {
    let states = burrow_runtime::container::list(&global.root)?;
    if args.quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    if args.format == "json" {
        let list: Vec<_> = states.iter().map(|s| s.to_spec_json()).collect();
        println!("{}", serde_json::to_string(&list)?);
        return Ok(0);
    }
    println!(
        "{:<20} {:<10} {:<10} {:<40} {:<32} OWNER",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    );
    for s in &states {
        let pid = if s.status == burrow_runtime::state::Status::Stopped {
            0
        } else {
            s.pid
        };
        println!(
            "{:<20} {:<10} {:<10} {:<40} {:<32} {}",
            s.id,
            pid,
            s.status,
            s.bundle.display(),
            s.created,
            s.owner
        );
    }
    Ok(0)
}
