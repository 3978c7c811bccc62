//! `burrow push NAME`: blobs the registry lacks, then the manifest.

use anyhow::Result;
use burrow_engine::images;
use burrow_image::{Progress, ProgressEvent};

#[derive(clap::Args)]
pub struct Args {
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG] of a local image.
    image: String,
}

struct Lines {
    quiet: bool,
}

impl Progress for Lines {
    fn event(&self, event: ProgressEvent) {
        let line = match &event {
            ProgressEvent::Exists { digest } => Some((digest, "Layer already exists")),
            ProgressEvent::Finished { digest } => Some((digest, "Pushed")),
            _ => None,
        };
        if let (Some((digest, text)), false) = (line, self.quiet) {
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
    let (digest, size) = images::push(&store, &args.image, &Lines { quiet: args.quiet })?;
    if !args.quiet {
        println!(
            "{}: digest: {digest} size: {size}",
            reference.manifest_reference()
        );
    }
    Ok(0)
}
