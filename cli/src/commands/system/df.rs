//! `burrow system df [-v]`: Docker's summary table (TYPE, TOTAL, ACTIVE, SIZE,
//! RECLAIMABLE) for images, containers, local volumes and the build cache, which
//! burrow does not have (always zero). Container size is its upper dir: what it
//! wrote; image size counts each blob once.

use std::path::Path;

use anyhow::Result;
use burrow_engine::container::tree_size;
use burrow_engine::{ContainerStatus, Store};

use crate::commands::ps::human_size;
use crate::commands::table;

#[derive(clap::Args)]
pub struct Args {
    /// Show each container and volume with its size.
    #[arg(short, long)]
    verbose: bool,
}

struct Row {
    kind: &'static str,
    total: usize,
    active: usize,
    size: u64,
    reclaimable: u64,
}

pub fn run(root: Option<&Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let images = burrow_engine::images::usage(&store)?;
    let containers = store.list()?;
    let container_size = |id: &str| tree_size(&store.container_dir(id).join("upper"));
    let volumes = store.list_volumes()?;
    let in_use = store.volumes_in_use()?;
    let rows = [
        Row {
            kind: "Images",
            total: images.total,
            active: images.active,
            size: images.size,
            reclaimable: images.reclaimable,
        },
        Row {
            kind: "Containers",
            total: containers.len(),
            active: containers
                .iter()
                .filter(|c| c.status == ContainerStatus::Running)
                .count(),
            size: containers.iter().map(|c| container_size(&c.id)).sum(),
            reclaimable: containers
                .iter()
                .filter(|c| c.status != ContainerStatus::Running)
                .map(|c| container_size(&c.id))
                .sum(),
        },
        Row {
            kind: "Local Volumes",
            total: volumes.len(),
            active: volumes
                .iter()
                .filter(|v| in_use.contains_key(&v.name))
                .count(),
            size: volumes.iter().map(|v| tree_size(&v.mountpoint)).sum(),
            reclaimable: volumes
                .iter()
                .filter(|v| !in_use.contains_key(&v.name))
                .map(|v| tree_size(&v.mountpoint))
                .sum(),
        },
        Row {
            kind: "Build Cache",
            total: 0,
            active: 0,
            size: 0,
            reclaimable: 0,
        },
    ];
    let mut cells = vec![["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
        .map(String::from)
        .to_vec()];
    cells.extend(rows.iter().map(|r| {
        vec![
            r.kind.to_string(),
            r.total.to_string(),
            r.active.to_string(),
            human_size(r.size),
            reclaimable(r.reclaimable, r.size),
        ]
    }));
    print!("{}", table::render(&cells, 10));
    if args.verbose {
        print_verbose(&store)?;
    }
    Ok(0)
}

/// `1.2MB (50%)`, as Docker shows it.
fn reclaimable(bytes: u64, of: u64) -> String {
    if of == 0 {
        return human_size(bytes);
    }
    format!("{} ({}%)", human_size(bytes), bytes * 100 / of)
}

fn print_verbose(store: &Store) -> Result<()> {
    println!("\nContainers space usage:\n");
    let mut cells = vec![["CONTAINER ID", "IMAGE", "SIZE", "STATUS", "NAMES"]
        .map(String::from)
        .to_vec()];
    for c in store.list()? {
        cells.push(vec![
            c.short_id().to_string(),
            c.config.image.clone(),
            human_size(tree_size(&store.container_dir(&c.id).join("upper"))),
            c.status.to_string(),
            c.name.clone(),
        ]);
    }
    print!("{}", table::render(&cells, 10));
    println!("\nLocal Volumes space usage:\n");
    let in_use = store.volumes_in_use()?;
    let mut cells = vec![["VOLUME NAME", "LINKS", "SIZE"].map(String::from).to_vec()];
    for v in store.list_volumes()? {
        cells.push(vec![
            v.name.clone(),
            in_use.get(&v.name).map_or(0, Vec::len).to_string(),
            human_size(tree_size(&v.mountpoint)),
        ]);
    }
    print!("{}", table::render(&cells, 10));
    println!("\nBuild cache usage: 0B");
    Ok(())
}
