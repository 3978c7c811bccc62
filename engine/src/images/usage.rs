//! `system df` for images: how many, how many a container uses, and the bytes of
//! their blobs counted once however many images share them (Docker counts shared
//! layers once too). Reclaimable is what removing every unused image would free:
//! the blobs no image in use needs.

use std::collections::BTreeSet;

use burrow_image::Digest;

use super::{containers_using, image_store};
use crate::error::Result;

/// Totals over every image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageUsage {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

pub fn usage(store: &crate::Store) -> Result<ImageUsage> {
    let images = image_store(store)?;
    let records = images.images()?;
    let in_use: BTreeSet<Digest> = containers_using(store, &images)?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let mut all = BTreeSet::new();
    let mut needed = BTreeSet::new();
    for record in &records {
        all.extend(record.blobs.iter().cloned());
        if in_use.contains(&record.id) {
            needed.extend(record.blobs.iter().cloned());
        }
    }
    let bytes = |set: &BTreeSet<Digest>| -> u64 {
        set.iter().filter_map(|d| images.blob_size(d).ok()).sum()
    };
    let size = bytes(&all);
    Ok(ImageUsage {
        total: records.len(),
        active: records.iter().filter(|r| in_use.contains(&r.id)).count(),
        size,
        reclaimable: size.saturating_sub(bytes(&needed)),
    })
}
