//! `burrow port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published
//! ports, as Docker prints them (`80/tcp -> 0.0.0.0:8080`).

use anyhow::{bail, Result};
use burrow_engine::ContainerStatus;

#[derive(clap::Args)]
pub struct Args {
    container: String,
    /// Only this container port (`80` or `80/tcp`).
    private_port: Option<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let record = store.resolve(&args.container)?;
    if record.status != ContainerStatus::Running {
        return Ok(0);
    }
    let wanted = args.private_port.as_deref().map(|p| match p.contains('/') {
        true => p.to_string(),
        false => format!("{p}/tcp"),
    });
    let mut found = false;
    for published in &record.ports {
        // `HOSTIP:HOSTPORT->PORT/PROTO`
        let Some((host, inside)) = published.split_once("->") else {
            continue;
        };
        if wanted.as_ref().is_some_and(|w| w != inside) {
            continue;
        }
        found = true;
        match wanted {
            Some(_) => println!("{host}"),
            None => println!("{inside} -> {host}"),
        }
    }
    if let (Some(wanted), false) = (wanted, found) {
        bail!("no public port '{wanted}' published for {}", args.container);
    }
    Ok(0)
}
