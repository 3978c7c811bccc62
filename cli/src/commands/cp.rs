//! `burrow cp`: files between a container and the host, either way;
//! `-` streams a tar archive on standard output or input.

use std::path::Path;

use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct Args {
    /// CONTAINER:SRC_PATH, a host path, or - (a tar on standard input).
    source: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar on standard output).
    destination: String,
}

/// `CONTAINER:PATH` split, or `None` for a host path (one with a `/` before any `:`).
fn container_path(arg: &str) -> Option<(&str, &str)> {
    let (container, path) = arg.split_once(':')?;
    if container.is_empty() || container.contains('/') || arg.starts_with('.') {
        return None;
    }
    Some((container, path))
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    super::daemon_result(|| {
        match (
            container_path(&args.source),
            container_path(&args.destination),
        ) {
            (Some(_), Some(_)) => bail!("copying between containers is not supported"),
            (None, None) => bail!("must specify at least one container source"),
            (Some((container, path)), None) => {
                let record = store.resolve(container)?;
                if args.destination == "-" {
                    burrow_engine::container::tar_out(&record, path, std::io::stdout())?;
                } else {
                    burrow_engine::container::copy_out(
                        &record,
                        path,
                        Path::new(&args.destination),
                    )?;
                }
            }
            (None, Some((container, path))) => {
                let record = store.resolve(container)?;
                if args.source == "-" {
                    burrow_engine::container::tar_in(&record, std::io::stdin(), path)?;
                } else {
                    burrow_engine::container::copy_in(&record, Path::new(&args.source), path)?;
                }
            }
        }
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_told_from_host_paths() {
        assert_eq!(
            container_path("web:/etc/hosts"),
            Some(("web", "/etc/hosts"))
        );
        assert_eq!(container_path("/tmp/a:b"), None);
        assert_eq!(container_path("./a:b"), None);
        assert_eq!(container_path("plain"), None);
        assert_eq!(container_path("-"), None);
    }
}
