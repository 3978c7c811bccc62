//! The `burrow` binary. Invoked as `burrow-oci` it is the runc-compatible
//! runtime (`burrow oci …`), so podman, containerd and CRI-O can drive it; invoked
//! as `burrow-overlay` it is the overlay filesystem with fuse-overlayfs's command line;
//! as `burrow-slirp` it is the network stack with slirp4netns's command line.

mod commands;
mod config;
mod logger;
mod oci_log;

use clap::error::ErrorKind;
use clap::Parser;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let code = if invoked_as == "burrow-oci" {
        commands::oci::main(args)
    } else if invoked_as == "burrow-overlay" {
        commands::overlay::main(args)
    } else if invoked_as == "burrow-slirp" {
        commands::slirp::main(args)
    } else if args.get(1).is_some_and(|a| a == "oci") {
        // runc's command line verbatim: its flags must not meet burrow's own.
        let mut argv = vec![std::ffi::OsString::from("burrow oci")];
        argv.extend(args.into_iter().skip(2));
        commands::oci::main(argv)
    } else {
        match commands::Cli::try_parse_from(args) {
            Ok(cli) => match settings() {
                Ok(root) => commands::dispatch(cli.with_default_root(root)),
                Err(message) => {
                    eprintln!("burrow: error: {message}");
                    125
                }
            },
            Err(e) => usage_error(e),
        }
    };
    std::process::exit(code);
}

/// Reads the config file and starts the logger (`BURROW_LOG` over `log_level`);
/// the config file's store root, for when neither `--root` nor `BURROW_ROOT` names one.
fn settings() -> Result<Option<std::path::PathBuf>, String> {
    let config = config::load()?;
    let level = match std::env::var("BURROW_LOG") {
        Ok(value) if !value.is_empty() => {
            config::level(Some(&value)).map_err(|e| format!("invalid BURROW_LOG: {e}"))?
        }
        _ => config.log_level.unwrap_or(log::LevelFilter::Warn),
    };
    logger::init(level);
    log::debug!(target: "burrow::config", "config file {:?}, log level {level}", config::path());
    Ok(config.root)
}

/// Help and version go to stdout (status 0); a command-line mistake is one
/// `burrow: error:` line plus hints, with Docker's status for it, 125.
fn usage_error(e: clap::Error) -> i32 {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        print!("{}", e.render());
        return 0;
    }
    let text = e.render().to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .peekable();
    let first = lines.next().unwrap_or("invalid command line");
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // "the following required arguments were not provided:" lists them below.
    if message.ends_with(':') {
        let arguments: Vec<&str> =
            std::iter::from_fn(|| lines.next_if(|l| l.starts_with('<') || l.starts_with('-')))
                .collect();
        message = format!("{} {}", message.trim_end_matches(':'), arguments.join(" "));
    }
    eprintln!("burrow: error: {message}");
    for line in lines {
        if let Some(tip) = line.strip_prefix("tip: ") {
            eprintln!("hint: {tip}");
        } else if let Some(usage) = line.strip_prefix("Usage: ") {
            eprintln!("hint: usage: {usage}");
        }
    }
    125
}
