//! `burrow run`: create, start, and (unless -d) print the output and exit
//! with the container's exit code.

use anyhow::Result;

use super::attach_session::{parse_detach_keys, Ended, Session};
use super::container_args::ContainerArgs;

#[derive(clap::Args)]
pub struct Args {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    detach: bool,
    /// Keys that detach from the container (default ctrl-p,ctrl-q).
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    #[command(flatten)]
    container: ContainerArgs,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let config = args.container.to_config(&store)?;
    let session = Session {
        stdin: config.interactive,
        tty: config.tty,
        detach_keys: parse_detach_keys(&args.detach_keys)?,
    };
    if !args.detach {
        if let Err(e) = session.check_terminal() {
            eprintln!("burrow: error: {e}");
            return Ok(1);
        }
    }
    let record = burrow_engine::container::create(&store, config, args.container.name.as_deref())?;
    if args.detach {
        let started = burrow_engine::container::start(&store, &record, &self_exe(), root);
        if let Err(e) = started {
            let _ = store.remove_record(&record.id);
            let _ = burrow_engine::container::remove_anonymous_volumes(&store, &record);
            return Err(e.into());
        }
        println!("{}", record.id);
        return Ok(0);
    }
    let mut client = None;
    let mut connect = || -> burrow_engine::Result<()> {
        let connected = session
            .connect(&store, &record.id)
            .map_err(|e| burrow_engine::EngineError::Other(format!("{e:#}")))?;
        client = Some(connected);
        Ok(())
    };
    let started = burrow_engine::container::start_attached(
        &store,
        &record,
        &self_exe(),
        root,
        Some(&mut connect),
    );
    if let Err(e) = started {
        let _ = store.remove_record(&record.id);
        let _ = burrow_engine::container::remove_anonymous_volumes(&store, &record);
        return Err(e.into());
    }
    let Some(client) = client else {
        anyhow::bail!("the container started without waiting to be attached");
    };
    finish_session(&store, &record.id, session.run(client)?)
}

/// The exit code for the end of an attached session.
pub fn finish_session(store: &burrow_engine::Store, id: &str, ended: Ended) -> Result<i32> {
    match ended {
        Ended::Exited(code) => Ok(code),
        Ended::Detached => Ok(0),
        Ended::Lost => {
            let code = store.load(id).ok().and_then(|r| r.exit_code);
            code.ok_or_else(|| anyhow::anyhow!("lost the container's supervisor"))
        }
    }
}

/// The binary to run as the supervisor: this one (also when re-executed from a memfd).
pub fn self_exe() -> std::path::PathBuf {
    std::path::PathBuf::from("/proc/self/exe")
}
