//! `burrow pull [-q] [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] NAME`: Docker's
//! line-per-layer output, then the full name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use anyhow::Result;
use burrow_engine::images::{self, familiar_name};
use burrow_image::{Digest, Progress, ProgressEvent};

#[derive(clap::Args)]
pub struct Args {
    /// Print only the image's full name.
    #[arg(short, long)]
    quiet: bool,
    /// Choose this platform from a multi-platform image (default: the host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    registry: super::RegistryFlags,
    /// NAME[:TAG|@DIGEST]
    image: String,
}

/// Prints a line per layer step, like `docker pull` without a terminal. The pull
/// fetches the config right after resolving the manifest and before any layer, so the
/// first blob after `Resolved` is the config: Docker does not list it, nor does this.
#[derive(Default)]
struct Lines {
    downloaded: AtomicBool,
    quiet: bool,
    resolved: AtomicBool,
    config: OnceLock<Digest>,
}

impl Lines {
    fn is_config(&self, digest: &Digest) -> bool {
        if self.resolved.load(Ordering::Relaxed) && self.config.get().is_none() {
            let _ = self.config.set(digest.clone());
        }
        self.config.get() == Some(digest)
    }
}

impl Progress for Lines {
    fn event(&self, event: ProgressEvent) {
        let line = match &event {
            ProgressEvent::Resolved { .. } => {
                self.resolved.store(true, Ordering::Relaxed);
                None
            }
            ProgressEvent::Exists { digest } => Some((digest, "Already exists")),
            ProgressEvent::Started { digest, .. } => {
                self.downloaded.store(true, Ordering::Relaxed);
                Some((digest, "Pulling fs layer"))
            }
            ProgressEvent::Finished { digest } => Some((digest, "Download complete")),
            ProgressEvent::Unpacked { digest } => Some((digest, "Pull complete")),
            _ => None,
        };
        let Some((digest, text)) = line else {
            return;
        };
        if !self.quiet && !self.is_config(digest) {
            println!("{}: {text}", digest.short());
        }
    }
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let reference = images::parse_reference(&args.image)?;
    let options = images::PullOptions {
        platform: args.platform.clone(),
        registry: args.registry.settings(),
    };
    if let Some(platform) = &options.platform {
        images::parse_platform(platform)?;
    }
    let full = reference.to_string();
    if !args.quiet {
        if reference.tag().is_none() && reference.digest().is_none() {
            println!("Using default tag: latest");
        }
        println!(
            "{}: Pulling from {}",
            reference.manifest_reference(),
            reference.path()
        );
    }
    let lines = Lines {
        quiet: args.quiet,
        ..Lines::default()
    };
    let record = images::pull_with(&store, &args.image, &options, &lines)?;
    if args.quiet {
        println!("{full}");
        return Ok(0);
    }
    let prefix = format!("{}@", reference.repository());
    if let Some(digest) = record
        .repo_digests
        .iter()
        .find_map(|d| d.strip_prefix(&prefix))
    {
        println!("Digest: {digest}");
    }
    let status = if lines.downloaded.load(Ordering::Relaxed) {
        "Downloaded newer image for"
    } else {
        "Image is up to date for"
    };
    println!("Status: {status} {}", familiar_name(&full));
    println!("{full}");
    Ok(0)
}
