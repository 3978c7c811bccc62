//! `burrow commit CONTAINER [REPO[:TAG]]`: the container's changes as a new image
//! layer on top of its image; prints the new image id. A running container is
//! paused for the copy unless `--pause=false`.

use anyhow::{Context, Result};
use burrow_engine::images::CommitOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Commit message (the history entry's comment).
    #[arg(short, long)]
    message: Option<String>,
    /// Author (e.g. "Jane Doe <jane@example.com>").
    #[arg(short, long)]
    author: Option<String>,
    /// Dockerfile instruction for the image config (CMD, ENTRYPOINT, ENV, WORKDIR, USER,
    /// EXPOSE, VOLUME, LABEL, STOPSIGNAL); repeatable.
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Pause the container during the commit.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pause: bool,
    container: String,
    /// Name for the image.
    reference: Option<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let record = store.resolve(&args.container)?;
    let options = CommitOptions {
        name: args.reference.clone(),
        message: args.message,
        author: args.author,
        changes: args.change,
    };
    let pause = args.pause
        && record.status == burrow_engine::ContainerStatus::Running
        && !record.is_paused();
    if pause {
        burrow_engine::container::pause(&store, &record)?;
    }
    let outcome = burrow_engine::images::commit(&store, &record, &options);
    if pause {
        if let Err(e) = burrow_engine::container::unpause(&store, &store.resolve(&record.id)?) {
            eprintln!("burrow: warning: cannot unpause {}: {e}", record.short_id());
        }
    }
    let image = outcome.with_context(|| format!("cannot commit {}", args.container))?;
    println!("{}", image.id);
    Ok(0)
}
