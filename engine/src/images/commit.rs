//! `docker commit`: a container's changes become an image layer. The upper dir
//! (`<container dir>/upper`) is already in OCI layer-diff form — whiteouts as
//! `.wh.NAME`, opaque directories marked by `.wh..wh..opq` — so the layer is that
//! tree as a tar, read as the container's root (files of subordinate ids, private
//! directories) with owners numeric as the container sees them. Mount-point stubs
//! the runtime made for `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` are
//! left out when the image lacks them, as Docker keeps them in its init layer.
//!
//!
//! Hard links among the upper dir's files are archived as link entries to the first
//! name (one file in the image, not copies); the whiteout files are left out of that,
//! since the overlay makes them all links of one shared empty file. Extended attributes
//! (`user.*`, `security.capability`, …, not the overlay's own bookkeeping) go into PAX
//! `SCHILY.xattr.*` records, as Docker and Podman write them.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use burrow_image::ImageRecord;

use super::{apply_changes, image_store, parse_reference, FsUnpacker};
use crate::error::{EngineError, IoContext, Result};
use crate::record::ContainerRecord;
use crate::store::Store;

/// Files the runtime may create as mount points (see the module comment).
const MOUNT_POINT_STUBS: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];

/// What goes into the new image besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPO[:TAG]` for the new image; untagged without.
    pub name: Option<String>,
    pub message: Option<String>,
    pub author: Option<String>,
    /// Dockerfile instructions applied to the run config (`-c`).
    pub changes: Vec<String>,
}

/// Makes the image; the caller pauses a running container first if it wants.
pub fn commit(
    store: &Store,
    record: &ContainerRecord,
    options: &CommitOptions,
) -> Result<ImageRecord> {
    if record.config.image_id.is_empty() {
        return Err(EngineError::Other(format!(
            "container {} runs a root filesystem directory, not an image: nothing to commit onto",
            record.short_id()
        )));
    }
    check_changes(&options.changes)?;
    let name = options.name.as_deref().map(parse_reference).transpose()?;
    let images = image_store(store)?;
    let base = images.find_image(&record.config.image_id)?;
    // Held while the layer is staged in the store's tmp/: a command that finds the
    // store idle clears tmp/ when it takes the lock.
    let _lock = images.lock_shared()?;
    let upper = store.container_dir(&record.id).join("upper");
    let staged = images.tmp_dir().join(format!(
        "commit-{}-{}.tar",
        record.short_id(),
        std::process::id()
    ));
    let outcome = write_layer(&upper, &record.config.layers, &staged).and_then(|()| {
        let edit = |config: &mut serde_json::Map<String, serde_json::Value>, created: &str| {
            edit_config(config, created, record, options)
        };
        // The changes were checked above: applying them cannot fail here.
        Ok(burrow_image::archive::commit_layer(
            &images,
            &base,
            &staged,
            name.as_ref(),
            &edit,
            &FsUnpacker,
        )?)
    });
    let _ = std::fs::remove_file(&staged);
    outcome
}

/// Checks `-c` changes before the (possibly long) archiving.
fn check_changes(changes: &[String]) -> Result<()> {
    apply_changes(&mut serde_json::Map::new(), changes)
}

fn edit_config(
    config: &mut serde_json::Map<String, serde_json::Value>,
    created: &str,
    record: &ContainerRecord,
    options: &CommitOptions,
) {
    let run = config
        .entry("config")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(run) = run.as_object_mut() {
        let _ = apply_changes(run, &options.changes);
    }
    if let Some(author) = &options.author {
        config.insert("author".into(), serde_json::json!(author));
    }
    let mut entry = serde_json::json!({
        "created": created,
        "created_by": command_line(record),
    });
    if let Some(author) = &options.author {
        entry["author"] = serde_json::json!(author);
    }
    if let Some(message) = &options.message {
        entry["comment"] = serde_json::json!(message);
    }
    let history = config
        .entry("history")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(list) = history.as_array_mut() {
        list.push(entry);
    }
}

/// The container's command, as Docker's history shows it.
fn command_line(record: &ContainerRecord) -> String {
    record.config.args.join(" ")
}

/// Writes the upper dir as a tar at `dest`, as the containers' root unless real root.
fn write_layer(upper: &Path, lowers: &[PathBuf], dest: &Path) -> Result<()> {
    // Created out here: the file belongs to the user, whatever the helper maps.
    std::fs::File::create(dest).context(|| format!("cannot create {}", dest.display()))?;
    if nix::unistd::geteuid().is_root() {
        return archive_upper(upper, lowers, dest);
    }
    crate::userns::run_as_container_root(|| {
        archive_upper(upper, lowers, dest)
            .map(|()| String::new())
            .map_err(|e| e.to_string())
    })
    .map(drop)
}

fn archive_upper(upper: &Path, lowers: &[PathBuf], dest: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dest)
        .context(|| format!("cannot open {}", dest.display()))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    builder.follow_symlinks(false);
    if upper.is_dir() {
        append_children(
            &mut builder,
            upper,
            Path::new(""),
            lowers,
            &mut Links::new(),
        )?;
    }
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .context(|| format!("cannot write {}", dest.display()))
}

/// Files with more than one name seen so far: (device, inode) → the name archived.
type Links = HashMap<(u64, u64), PathBuf>;

fn append_children<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    inside: &Path,
    lowers: &[PathBuf],
    links: &mut Links,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    entries.sort();
    for name in entries {
        let path = dir.join(&name);
        let relative = inside.join(&name);
        let meta = std::fs::symlink_metadata(&path)
            .context(|| format!("cannot read {}", path.display()))?;
        if is_mount_point_stub(&relative, &meta, lowers) {
            continue;
        }
        let linkable =
            meta.is_file() && meta.nlink() > 1 && !name.as_encoded_bytes().starts_with(b".wh.");
        if linkable {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                append_hard_link(builder, &meta, &relative, first)
                    .context(|| format!("cannot archive {}", path.display()))?;
                continue;
            }
            links.insert((meta.dev(), meta.ino()), relative.clone());
        }
        let xattrs = burrow_fs::xattrs::archivable(&path)
            .context(|| format!("cannot read the xattrs of {}", path.display()))?;
        if !xattrs.is_empty() {
            let records: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(name, value)| (format!("SCHILY.xattr.{name}"), value.as_slice()))
                .collect();
            builder
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
                .context(|| format!("cannot archive {}", path.display()))?;
        }
        builder
            .append_path_with_name(&path, &relative)
            .context(|| format!("cannot archive {}", path.display()))?;
        if meta.is_dir() {
            append_children(builder, &path, &relative, lowers, links)?;
        }
    }
    Ok(())
}

/// A hard-link entry: `relative` is another name of the file archived as `first`.
fn append_hard_link<W: Write>(
    builder: &mut tar::Builder<W>,
    meta: &std::fs::Metadata,
    relative: &Path,
    first: &Path,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    builder.append_link(&mut header, relative, first)
}

fn is_mount_point_stub(relative: &Path, meta: &std::fs::Metadata, lowers: &[PathBuf]) -> bool {
    meta.is_file()
        && meta.size() == 0
        && MOUNT_POINT_STUBS.iter().any(|s| Path::new(s) == relative)
        && !lowers
            .iter()
            .any(|l| std::fs::symlink_metadata(l.join(relative)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_holds_the_upper_dir_with_whiteouts_and_without_stubs() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("upper");
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/hosts"), "").unwrap();
        std::fs::write(upper.join("etc/motd"), "hi").unwrap();
        std::fs::write(upper.join(".wh.gone"), "").unwrap();
        let dest = dir.path().join("layer.tar");
        std::fs::File::create(&dest).unwrap();
        archive_upper(&upper, &[], &dest).unwrap();
        let mut archive = tar::Archive::new(std::fs::File::open(&dest).unwrap());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [".wh.gone", "etc", "etc/motd"]);
    }

    #[test]
    fn hard_links_become_link_entries_but_whiteouts_stay_files() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("upper");
        std::fs::create_dir_all(upper.join("d")).unwrap();
        std::fs::write(upper.join("d/a"), "body").unwrap();
        std::fs::hard_link(upper.join("d/a"), upper.join("d/b")).unwrap();
        // The overlay's whiteouts: links of one shared empty file.
        let shared = dir.path().join("whiteout");
        std::fs::write(&shared, "").unwrap();
        std::fs::hard_link(&shared, upper.join(".wh.x")).unwrap();
        std::fs::hard_link(&shared, upper.join("d/.wh.y")).unwrap();
        let dest = dir.path().join("layer.tar");
        std::fs::File::create(&dest).unwrap();
        archive_upper(&upper, &[], &dest).unwrap();
        let mut archive = tar::Archive::new(std::fs::File::open(&dest).unwrap());
        let entries: Vec<(String, tar::EntryType, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned());
                let path = e.path().unwrap().to_string_lossy().into_owned();
                (path, e.header().entry_type(), link)
            })
            .collect();
        use tar::EntryType::{Directory, Link, Regular};
        assert_eq!(
            entries,
            [
                (".wh.x".to_string(), Regular, None),
                ("d".to_string(), Directory, None),
                ("d/.wh.y".to_string(), Regular, None),
                ("d/a".to_string(), Regular, None),
                ("d/b".to_string(), Link, Some("d/a".to_string())),
            ]
        );
    }
}
