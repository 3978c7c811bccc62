//! Id shifting for containers: `--userns=keep-id` and `-v SRC:DST:U`.
//!
//! Theory of operation. Every container's supervisor lives in the user's own user
//! namespace S (`crate::userns`: the user is 0, its subordinate ids 1…N), and files on
//! disk — image layers, upper dirs, volumes — hold S ids: the image's uid k is S id k.
//! By default the container shares S, so nothing is translated (the fast path).
//!
//! *keep-id.* The container gets a user namespace of its own, nested in S, where the
//! invoking user (S 0) is uid U inside and the other ids fill the rest, as Podman maps
//! it: inside 0…U-1 → S 1…U, inside U → S 0, inside U+1… → S U+1…. The FUSE overlay
//! in S then shows each on-disk id d as the S id that is d inside (the same ranges read
//! as `DISK:SHOWN:COUNT`), so image files keep their owners (root stays root) while a
//! bind mount of the user's files, not shifted, shows them as U. What the container's
//! user U writes into its root lands on disk as S id U, as if written under the default
//! maps, so `commit`, `diff` and `cp` keep working on disk ids.
//!
//! *`:U` volumes.* A bind or volume marked `U` is served to the container by a FUSE
//! passthrough of the host directory in S that exchanges the user's own id (S 0) with
//! the S id of the container's user: the container's user sees the user's files as its
//! own and what it writes belongs to the user on the host. Nothing is chowned. When the
//! container's user already is the user (root by default, U with keep-id), a plain bind
//! mount is used. Podman's `:U` chowns the source recursively instead; burrow does not,
//! because the issue asks that the files stay the user's on the host, a chown of a big
//! tree costs its size at every start, and it cannot be undone once another container
//! (or the user) needs the old owners.

use std::path::Path;

use burrow_fs::{IdMapping, IdShift};
use burrow_runtime::spec::oci::{LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::userns::IdMaps;

/// `--userns=keep-id[:uid=U,gid=G]`: the ids the user has inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepId {
    pub uid: u32,
    pub gid: u32,
}

/// Parses `--userns`: empty or `host` (the default: the supervisor's namespace),
/// `keep-id`, `keep-id:uid=U,gid=G`. `own` is the invoking user's (uid, gid).
pub fn parse_userns(flag: &str, own: (u32, u32)) -> Result<Option<KeepId>> {
    let bad = |why: &str| EngineError::Other(format!("invalid --userns {flag:?}: {why}"));
    let (mode, options) = flag.split_once(':').unwrap_or((flag, ""));
    match mode {
        "" | "host" if options.is_empty() => return Ok(None),
        "keep-id" => {}
        _ => return Err(bad("use host or keep-id[:uid=U,gid=G]")),
    }
    let mut keep = KeepId {
        uid: own.0,
        gid: own.1,
    };
    for option in options.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = option
            .split_once('=')
            .ok_or_else(|| bad("options are KEY=ID"))?;
        let id: u32 = value.parse().map_err(|_| bad("ids are numbers"))?;
        match key {
            "uid" => keep.uid = id,
            "gid" => keep.gid = id,
            _ => return Err(bad("keep-id takes uid= and gid=")),
        }
    }
    Ok(Some(keep))
}

/// The ranges (inside, S id, count) of a keep-id namespace in S of `size` ids where
/// `inside` is S 0.
pub fn keep_id_ranges(inside: u32, size: u64) -> Vec<(u32, u32, u32)> {
    let size = size.clamp(1, u64::from(u32::MAX));
    let others = (size - 1).min(u64::from(inside)) as u32;
    let mut ranges = Vec::new();
    if others > 0 {
        ranges.push((0, 1, others));
    }
    ranges.push((inside, 0, 1));
    let after = size.saturating_sub(u64::from(inside) + 1);
    if after > 0 {
        ranges.push((inside + 1, inside + 1, after as u32));
    }
    ranges
}

/// The container's maps, in S ids, for `keep` in a namespace with `maps`.
pub fn container_maps(keep: KeepId, maps: &IdMaps) -> IdMaps {
    let size = |m: &[(u32, u32, u32)]| m.iter().map(|r| u64::from(r.2)).sum::<u64>();
    IdMaps {
        uid: keep_id_ranges(keep.uid, size(&maps.uid)),
        gid: keep_id_ranges(keep.gid, size(&maps.gid)),
    }
}

/// What the root filesystem's overlay must show for a container with `maps` (None
/// without keep-id: no shift).
pub fn rootfs_shift(keep: Option<KeepId>, maps: &IdMaps) -> Option<IdShift> {
    let keep = keep?;
    let container = container_maps(keep, maps);
    let mapping = |ranges: &[(u32, u32, u32)]| {
        IdMapping::new(
            ranges
                .iter()
                .map(|&(inside, outside, count)| burrow_fs::idmap::IdRange {
                    disk: inside,
                    shown: outside,
                    count,
                })
                .collect(),
        )
        .ok()
    };
    Some(IdShift {
        uid: mapping(&container.uid)?,
        gid: mapping(&container.gid)?,
        squash_uid: None,
        squash_gid: None,
    })
}

/// The S id that `inside` is in the container (identity without keep-id).
fn s_id(ranges: Option<&[(u32, u32, u32)]>, inside: u32) -> Option<u32> {
    let Some(ranges) = ranges else {
        return Some(inside);
    };
    ranges.iter().find_map(|&(start, outside, count)| {
        let offset = inside.checked_sub(start)?;
        (offset < count).then(|| outside + offset)
    })
}

/// The shift a `:U` volume needs for a container whose user is `user` (inside ids),
/// or None when a plain bind mount already shows the user's files as that user's.
pub fn volume_shift(keep: Option<KeepId>, maps: &IdMaps, user: (u32, u32)) -> Option<IdShift> {
    let container = keep.map(|k| container_maps(k, maps));
    let uid = s_id(container.as_ref().map(|c| c.uid.as_slice()), user.0)?;
    let gid = s_id(container.as_ref().map(|c| c.gid.as_slice()), user.1)?;
    if (uid, gid) == (0, 0) {
        return None;
    }
    let size = maps.size().clamp(1, u64::from(u32::MAX)) as u32;
    Some(IdShift::swap((0, 0), (uid, gid), size))
}

/// Gives the spec a user namespace of its own with the keep-id maps, and runs the
/// process as the user's ids inside unless `-u` chose others.
pub fn apply_to_spec(spec: &mut Spec, keep: KeepId, maps: &IdMaps, user_given: bool) -> Result<()> {
    let container = container_maps(keep, maps);
    let convert = |ranges: &[(u32, u32, u32)]| {
        ranges
            .iter()
            .map(|&(inside, outside, size)| {
                LinuxIdMappingBuilder::default()
                    .container_id(inside)
                    .host_id(outside)
                    .size(size)
                    .build()
                    .map_err(|e| EngineError::Other(format!("cannot build an id map: {e}")))
            })
            .collect::<Result<Vec<_>>>()
    };
    let uids = convert(&container.uid)?;
    let gids = convert(&container.gid)?;
    if let Some(linux) = spec.linux_mut() {
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::User);
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::User);
        namespaces.insert(0, ns);
        linux.set_namespaces(Some(namespaces));
        linux.set_uid_mappings(Some(uids));
        linux.set_gid_mappings(Some(gids));
    }
    if !user_given {
        if let Some(process) = spec.process_mut() {
            process.user_mut().set_uid(keep.uid);
            process.user_mut().set_gid(keep.gid);
        }
    }
    Ok(())
}

/// The image's `/etc/passwd` and `/etc/group` with the invoking user added (as
/// Podman does for keep-id), written to `dir` for bind mounts over the image's.
/// Returns the files written, as (path in the container, file on the host).
pub fn user_files(
    dir: &Path,
    roots: &[std::path::PathBuf],
    keep: KeepId,
) -> Result<Vec<(&'static str, std::path::PathBuf)>> {
    let own = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten();
    let name = own
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| format!("user{}", keep.uid));
    let home = own
        .as_ref()
        .map(|u| u.dir.display().to_string())
        .unwrap_or_else(|| "/".into());
    let mut written = Vec::new();
    let first = |relative: &str| {
        roots
            .iter()
            .find_map(|root| std::fs::read_to_string(root.join(relative)).ok())
    };
    let has_id = |text: &str, field: usize, id: u32| {
        text.lines()
            .any(|l| l.split(':').nth(field) == Some(id.to_string().as_str()))
    };
    let mut passwd = first("etc/passwd").unwrap_or_default();
    if !has_id(&passwd, 2, keep.uid) {
        if !passwd.is_empty() && !passwd.ends_with('\n') {
            passwd.push('\n');
        }
        passwd.push_str(&format!(
            "{name}:*:{}:{}:{name}:{home}:/bin/sh\n",
            keep.uid, keep.gid
        ));
        let path = dir.join("passwd");
        std::fs::write(&path, passwd)
            .map_err(|e| EngineError::Other(format!("cannot write {}: {e}", path.display())))?;
        written.push(("/etc/passwd", path));
    }
    let mut group = first("etc/group").unwrap_or_default();
    if !has_id(&group, 2, keep.gid) {
        if !group.is_empty() && !group.ends_with('\n') {
            group.push('\n');
        }
        group.push_str(&format!("{name}:x:{}:\n", keep.gid));
        let path = dir.join("group");
        std::fs::write(&path, group)
            .map_err(|e| EngineError::Other(format!("cannot write {}: {e}", path.display())))?;
        written.push(("/etc/group", path));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(size: u32) -> IdMaps {
        let own = vec![(0, 1001, 1), (1, 100000, size - 1)];
        IdMaps {
            uid: own.clone(),
            gid: own,
        }
    }

    #[test]
    fn userns_flag_parses() {
        assert_eq!(parse_userns("", (5, 6)).unwrap(), None);
        assert_eq!(parse_userns("host", (5, 6)).unwrap(), None);
        assert_eq!(
            parse_userns("keep-id", (5, 6)).unwrap(),
            Some(KeepId { uid: 5, gid: 6 })
        );
        assert_eq!(
            parse_userns("keep-id:uid=7,gid=8", (5, 6)).unwrap(),
            Some(KeepId { uid: 7, gid: 8 })
        );
        for bad in ["auto", "keep-id:uid=x", "keep-id:size=3", "host:uid=1"] {
            assert!(parse_userns(bad, (5, 6)).is_err(), "{bad}");
        }
    }

    #[test]
    fn keep_id_ranges_cover_the_namespace_once() {
        assert_eq!(
            keep_id_ranges(1001, 65537),
            vec![(0, 1, 1001), (1001, 0, 1), (1002, 1002, 64535)]
        );
        assert_eq!(keep_id_ranges(0, 65537), vec![(0, 0, 1), (1, 1, 65536)]);
        assert_eq!(keep_id_ranges(1001, 1), vec![(1001, 0, 1)]);
        // A uid beyond the subordinate range: every S id still used once.
        assert_eq!(keep_id_ranges(70000, 100), vec![(0, 1, 99), (70000, 0, 1)]);
        for (inside, size) in [(1001u32, 65537u64), (5, 10), (9, 10), (70000, 100)] {
            let total: u64 = keep_id_ranges(inside, size)
                .iter()
                .map(|r| u64::from(r.2))
                .sum();
            assert_eq!(total, size);
        }
    }

    #[test]
    fn rootfs_shift_keeps_image_owners_inside() {
        let keep = KeepId {
            uid: 1001,
            gid: 1001,
        };
        let shift = rootfs_shift(Some(keep), &maps(65537)).unwrap();
        // The image's root (S 0 on disk) is shown as S 1, which is 0 inside.
        assert_eq!(shift.shown(0, 0), (1, 1));
        assert_eq!(shift.shown(33, 33), (34, 34));
        assert_eq!(shift.shown(1001, 1001), (0, 0));
        assert_eq!(shift.shown(2000, 2000), (2000, 2000));
        // What the user (S 0) writes lands as image uid 1001.
        assert_eq!(shift.disk(0, 0), Some((1001, 1001)));
        assert!(rootfs_shift(None, &maps(65537)).is_none());
    }

    #[test]
    fn volume_shift_only_when_the_user_differs() {
        let m = maps(65537);
        assert!(volume_shift(None, &m, (0, 0)).is_none());
        let shift = volume_shift(None, &m, (1000, 1000)).unwrap();
        assert_eq!(shift.shown(0, 0), (1000, 1000));
        assert_eq!(shift.disk(1000, 1000), Some((0, 0)));
        let keep = Some(KeepId {
            uid: 1001,
            gid: 1001,
        });
        assert!(volume_shift(keep, &m, (1001, 1001)).is_none());
        // keep-id and -u 0: the container's root is S 1.
        let shift = volume_shift(keep, &m, (0, 0)).unwrap();
        assert_eq!(shift.shown(0, 0), (1, 1));
    }
}
