//! `burrow push NAME`: blobs the registry lacks, then the manifest.

use anyhow::Result;
use burrow_engine::images;
use burrow_image::{Digest, Progress, ProgressEvent};

#[derive(clap::Args)]
pub struct Args {
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    registry: super::RegistryFlags,
    /// NAME[:TAG] of a local image.
    image: String,
}

/// A line per layer; the config blob (whose digest is the image id) is not listed, as
/// in Docker's output.
struct Lines {
    quiet: bool,
    config: Digest,
}

impl Progress for Lines {
    fn event(&self, event: ProgressEvent) {
        let line = match &event {
            ProgressEvent::Exists { digest } => Some((digest, "Layer already exists".to_string())),
            ProgressEvent::Finished { digest } => Some((digest, "Pushed".to_string())),
            ProgressEvent::Mounted { digest, from } => {
                Some((digest, format!("Mounted from {from}")))
            }
            _ => None,
        };
        let Some((digest, text)) = line else {
            return;
        };
        if !self.quiet && *digest != self.config {
            println!("{}: {text}", digest.short());
        }
    }
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let reference = images::parse_reference(&args.image)?;
    if !args.quiet {
        println!("The push refers to repository [{}]", reference.repository());
    }
    let lines = Lines {
        quiet: args.quiet,
        config: images::inspect(&store, &args.image)?.record.id,
    };
    let (digest, size) = images::push(&store, &args.image, &args.registry.settings(), &lines)?;
    if !args.quiet {
        println!(
            "{}: digest: {digest} size: {size}",
            reference.manifest_reference()
        );
    }
    Ok(0)
}
