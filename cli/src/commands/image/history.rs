//! `burrow history IMAGE`: the config's history, newest first; layer sizes are the
//! compressed blob sizes.

use anyhow::Result;

use super::{created_since, human_size, print_table};

#[derive(clap::Args)]
pub struct Args {
    /// Only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate the command.
    #[arg(long)]
    no_trunc: bool,
    image: String,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let info = burrow_engine::images::inspect(&store, &args.image)?;
    let id = if args.no_trunc {
        info.record.id.to_string()
    } else {
        info.record.id.short().to_string()
    };
    if args.quiet {
        println!("{id}");
        return Ok(0);
    }
    let mut sizes = info.layer_sizes.iter();
    let mut rows: Vec<Vec<String>> = info
        .config
        .history
        .iter()
        .map(|entry| {
            let size = if entry.empty_layer {
                0
            } else {
                sizes.next().copied().unwrap_or(0)
            };
            let mut command = entry.created_by.clone();
            if !args.no_trunc && command.chars().count() > 45 {
                command = command.chars().take(44).chain(['…']).collect();
            }
            vec![
                "<missing>".to_string(),
                created_since(entry.created.as_deref()),
                command,
                human_size(size),
                entry.comment.clone(),
            ]
        })
        .collect();
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top[0] = id;
    }
    print_table(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &rows,
    );
    Ok(0)
}
