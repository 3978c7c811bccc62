//! `burrow start`.

use anyhow::Result;

use super::attach_session::{parse_detach_keys, Session};

#[derive(clap::Args)]
pub struct Args {
    /// Attach to the output and wait (one container only).
    #[arg(short, long)]
    attach: bool,
    /// Attach stdin (with -a).
    #[arg(short, long)]
    interactive: bool,
    /// Keys that detach from the container.
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    if args.attach {
        if args.containers.len() > 1 {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        }
        return start_attached(&store, root, &args);
    }
    let mut failed = false;
    for reference in &args.containers {
        let started = store.resolve(reference).and_then(|r| {
            burrow_engine::container::start(&store, &r, &super::run::self_exe(), root)
        });
        match started {
            Ok(_) => println!("{reference}"),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 125 } else { 0 })
}

fn start_attached(
    store: &burrow_engine::Store,
    root: Option<&std::path::Path>,
    args: &Args,
) -> Result<i32> {
    let record = store.resolve(&args.containers[0])?;
    let session = Session {
        stdin: args.interactive && record.config.interactive,
        tty: record.config.tty,
        detach_keys: parse_detach_keys(&args.detach_keys)?,
    };
    if let Err(e) = session.check_terminal() {
        eprintln!("burrow: error: {e}");
        return Ok(1);
    }
    let mut client = None;
    let mut connect = || -> burrow_engine::Result<()> {
        let connected = session
            .connect(store, &record.id)
            .map_err(|e| burrow_engine::EngineError::Other(format!("{e:#}")))?;
        client = Some(connected);
        Ok(())
    };
    let started = burrow_engine::container::start_attached(
        store,
        &record,
        &super::run::self_exe(),
        root,
        Some(&mut connect),
    )?;
    let Some(client) = client else {
        // Already running: attach to it as it is.
        let client = session.connect(store, &started.id)?;
        return super::run::finish_session(store, &started.id, session.run(client)?);
    };
    super::run::finish_session(store, &record.id, session.run(client)?)
}
