//! `burrow push NAME`: blobs the registry lacks (mounted from another repository of
//! the registry when one is known to hold them), then the manifest, with Docker's
//! per-layer progress.

use anyhow::Result;
use burrow_engine::images;
use burrow_image::{Digest, Progress, ProgressEvent};

use super::display::{Display, Shape};

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

/// Feeds the per-layer display, like `docker push`; the config blob (whose digest is
/// the image id) is not listed, as in Docker's output.
struct Layers {
    display: Display<std::io::Stdout>,
    config: Digest,
}

impl Progress for Layers {
    fn event(&self, event: ProgressEvent) {
        let (digest, status, bytes) = match &event {
            ProgressEvent::Exists { digest } => (digest, "Layer already exists".to_string(), None),
            ProgressEvent::Started { digest, .. } => (digest, "Preparing".to_string(), None),
            ProgressEvent::Advanced { digest, done, size } => {
                (digest, "Pushing".to_string(), Some((*done, *size)))
            }
            ProgressEvent::Retrying { digest, .. } => (digest, "Retrying".to_string(), None),
            ProgressEvent::Finished { digest } => (digest, "Pushed".to_string(), None),
            ProgressEvent::Mounted { digest, from } => {
                (digest, format!("Mounted from {from}"), None)
            }
            _ => return,
        };
        if *digest != self.config {
            self.display.update(digest.short(), &status, bytes);
        }
    }
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let reference = images::parse_reference(&args.image)?;
    let layers = Layers {
        display: Display::new(Shape::for_stdout(args.quiet), std::io::stdout()),
        config: images::inspect(&store, &args.image)?.record.id,
    };
    layers.display.text(&format!(
        "The push refers to repository [{}]",
        reference.repository()
    ));
    let (digest, size) = images::push(&store, &args.image, &args.registry.settings(), &layers)?;
    layers.display.text(&format!(
        "{}: digest: {digest} size: {size}",
        reference.manifest_reference()
    ));
    Ok(0)
}
