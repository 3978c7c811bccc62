//! The true owner, mode and type of a file, kept in an xattr when the disk cannot hold them.
//!
//! A rootless user can only give files the ids mapped into its user namespace: with a
//! single-id map that is one uid, and even with `/etc/subuid` ranges an image may name ids
//! outside them. Device nodes cannot be created at all. In those cases the file on disk
//! belongs to the user, and the owner, permission bits and (for device nodes stored as
//! empty regular files) the type the image asked for are written to
//! `user.containers.override_stat` as `UID:GID:MODE[:TYPE]` (MODE in octal, TYPE one of
//! `file`, `dir`, `symlink`, `pipe`, `socket`, `block-MAJOR-MINOR`, `char-MAJOR-MINOR`).
//! That is the name and format containers/storage writes when it unpacks layers rootless
//! and fuse-overlayfs reads, so layers move between the tools unchanged; fuse-overlayfs's
//! own `user.fuseoverlayfs.override_stat` is read too. Linux refuses `user.*` xattrs on
//! symlinks and special files, so those keep their on-disk owner.

use thiserror::Error;

/// The xattr burrow writes (containers/storage's name).
pub const OVERRIDE_STAT_XATTR: &str = "user.containers.override_stat";
/// fuse-overlayfs's name for the same record; read, never written.
pub const FUSE_OVERLAYFS_OVERRIDE_STAT_XATTR: &str = "user.fuseoverlayfs.override_stat";

/// Why an override record could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OwnershipError {
    #[error("malformed override_stat record {record:?}: {reason}")]
    Malformed {
        record: String,
        reason: &'static str,
    },
}

/// The file type an override record may claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverrideKind {
    File,
    Dir,
    Symlink,
    Pipe,
    Socket,
    Block { major: u32, minor: u32 },
    Char { major: u32, minor: u32 },
}

/// One `override_stat` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverrideStat {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid, setgid and sticky (`0o7777` at most).
    pub mode: u32,
    pub kind: Option<OverrideKind>,
}

impl OverrideStat {
    /// Parses `UID:GID:MODE[:TYPE]`.
    pub fn parse(bytes: &[u8]) -> Result<OverrideStat, OwnershipError> {
        let text = std::str::from_utf8(bytes).map_err(|_| malformed(bytes, "not UTF-8"))?;
        let text = text.trim_end_matches('\0').trim();
        let mut fields = text.split(':');
        let mut next = |what| fields.next().ok_or_else(|| malformed(bytes, what));
        let uid = next("no uid")?
            .parse()
            .map_err(|_| malformed(bytes, "bad uid"))?;
        let gid = next("no gid")?
            .parse()
            .map_err(|_| malformed(bytes, "bad gid"))?;
        let mode =
            u32::from_str_radix(next("no mode")?, 8).map_err(|_| malformed(bytes, "bad mode"))?;
        if mode > 0o7777 {
            return Err(malformed(bytes, "mode has more than permission bits"));
        }
        let kind = match fields.next() {
            None => None,
            Some(kind) => Some(parse_kind(kind).ok_or_else(|| malformed(bytes, "bad type"))?),
        };
        if fields.next().is_some() {
            return Err(malformed(bytes, "trailing fields"));
        }
        Ok(OverrideStat {
            uid,
            gid,
            mode,
            kind,
        })
    }

    /// The record as written to the xattr.
    pub fn format(&self) -> String {
        let base = format!("{}:{}:{:04o}", self.uid, self.gid, self.mode & 0o7777);
        match self.kind {
            None => base,
            Some(kind) => format!("{base}:{}", format_kind(kind)),
        }
    }
}

fn malformed(bytes: &[u8], reason: &'static str) -> OwnershipError {
    OwnershipError::Malformed {
        record: String::from_utf8_lossy(bytes).into_owned(),
        reason,
    }
}

fn parse_kind(text: &str) -> Option<OverrideKind> {
    let device = |rest: &str| -> Option<(u32, u32)> {
        let (major, minor) = rest.split_once('-')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    Some(match text {
        "file" => OverrideKind::File,
        "dir" => OverrideKind::Dir,
        "symlink" => OverrideKind::Symlink,
        "pipe" => OverrideKind::Pipe,
        "socket" => OverrideKind::Socket,
        _ => {
            if let Some(rest) = text.strip_prefix("block-") {
                let (major, minor) = device(rest)?;
                OverrideKind::Block { major, minor }
            } else if let Some(rest) = text.strip_prefix("char-") {
                let (major, minor) = device(rest)?;
                OverrideKind::Char { major, minor }
            } else {
                return None;
            }
        }
    })
}

fn format_kind(kind: OverrideKind) -> String {
    match kind {
        OverrideKind::File => "file".into(),
        OverrideKind::Dir => "dir".into(),
        OverrideKind::Symlink => "symlink".into(),
        OverrideKind::Pipe => "pipe".into(),
        OverrideKind::Socket => "socket".into(),
        OverrideKind::Block { major, minor } => format!("block-{major}-{minor}"),
        OverrideKind::Char { major, minor } => format!("char-{major}-{minor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for record in [
            "0:0:0755",
            "1000:100:4755",
            "5:6:0620:char-4-1",
            "0:0:0660:block-8-0",
            "0:0:0644:file",
        ] {
            let parsed = OverrideStat::parse(record.as_bytes()).unwrap();
            assert_eq!(parsed.format(), record);
        }
        let parsed = OverrideStat::parse(b"0:0:755").unwrap();
        assert_eq!(parsed.mode, 0o755);
        assert_eq!(parsed.kind, None);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"0",
            b"0:0",
            b"x:0:0755",
            b"0:0:0999",
            b"0:0:17777",
            b"0:0:0755:char-1",
            b"0:0:0755:weird",
            b"0:0:0755:file:extra",
            b"\xff\xfe",
        ] {
            assert!(OverrideStat::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
