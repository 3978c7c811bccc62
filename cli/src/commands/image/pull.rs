//! `burrow pull [-q] [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] NAME`: Docker's
//! per-layer progress (redrawn bars on a terminal, plain lines otherwise), then the
//! full name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use anyhow::Result;
use burrow_engine::images::{self, familiar_name};
use burrow_image::{Digest, Progress, ProgressEvent};

use super::display::{Display, Shape};

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

/// Feeds the per-layer display, like `docker pull`. The pull fetches the config right
/// after resolving the manifest and before any layer, so the first blob after
/// `Resolved` is the config: Docker does not list it, nor does this.
struct Layers {
    display: Display<std::io::Stdout>,
    downloaded: AtomicBool,
    resolved: AtomicBool,
    config: OnceLock<Digest>,
}

impl Layers {
    fn is_config(&self, digest: &Digest) -> bool {
        if self.resolved.load(Ordering::Relaxed) && self.config.get().is_none() {
            let _ = self.config.set(digest.clone());
        }
        self.config.get() == Some(digest)
    }
}

/// A status and, for a transfer, its (done, total) bytes.
type Step = (&'static str, Option<(u64, u64)>);

impl Progress for Layers {
    fn event(&self, event: ProgressEvent) {
        let (digest, steps): (&Digest, &[Step]) = match &event {
            ProgressEvent::Resolved { .. } => {
                self.resolved.store(true, Ordering::Relaxed);
                return;
            }
            ProgressEvent::Exists { digest } => (digest, &[("Already exists", None)]),
            ProgressEvent::Started { digest, .. } => {
                self.downloaded.store(true, Ordering::Relaxed);
                (digest, &[("Pulling fs layer", None)])
            }
            ProgressEvent::Advanced { digest, done, size } => {
                if !self.is_config(digest) {
                    self.display
                        .update(digest.short(), "Downloading", Some((*done, *size)));
                }
                return;
            }
            ProgressEvent::Retrying { digest, .. } => (digest, &[("Retrying", None)]),
            ProgressEvent::Finished { digest } => (
                digest,
                &[("Verifying Checksum", None), ("Download complete", None)],
            ),
            ProgressEvent::Unpacking { digest } => (digest, &[("Extracting", None)]),
            ProgressEvent::Unpacked { digest } => (digest, &[("Pull complete", None)]),
            _ => return,
        };
        if self.is_config(digest) {
            return;
        }
        for (status, bytes) in steps {
            self.display.update(digest.short(), status, *bytes);
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
    let layers = Layers {
        display: Display::new(Shape::for_stdout(args.quiet), std::io::stdout()),
        downloaded: AtomicBool::new(false),
        resolved: AtomicBool::new(false),
        config: OnceLock::new(),
    };
    let display = &layers.display;
    if reference.tag().is_none() && reference.digest().is_none() {
        display.text("Using default tag: latest");
    }
    display.text(&format!(
        "{}: Pulling from {}",
        reference.manifest_reference(),
        reference.path()
    ));
    let record = images::pull_with(&store, &args.image, &options, &layers)?;
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
        display.text(&format!("Digest: {digest}"));
    }
    let status = if layers.downloaded.load(Ordering::Relaxed) {
        "Downloaded newer image for"
    } else {
        "Image is up to date for"
    };
    display.text(&format!("Status: {status} {}", familiar_name(&full)));
    display.text(&full);
    Ok(0)
}
