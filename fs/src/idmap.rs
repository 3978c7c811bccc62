//! Id shifting: how a FUSE server shows the owners it finds on disk, and which owner
//! it stores for ids its callers ask for.
//!
//! Theory of operation. A mapping is a list of ranges `DISK:SHOWN:COUNT` — fuse-overlayfs's
//! `uidmapping=`/`gidmapping=` syntax and meaning: an id `DISK + k` found on disk is shown
//! as `SHOWN + k`, and an id `SHOWN + k` asked for (the caller's fsuid on create, mkdir,
//! mknod and symlink; the new owner on chown) is stored as `DISK + k`. The ranges are
//! tried in order. An id on disk that no range covers shows as the overflow id 65534; an
//! id asked for that no range covers cannot be stored (`EOVERFLOW` for a new file,
//! `EINVAL` for chown, as the kernel answers for ids outside a user namespace). An empty
//! mapping is the identity. `squash_to_root`, `squash_to_uid=` and `squash_to_gid=` only
//! change what is shown (every file owned by that id); changes of owner are then
//! accepted and dropped, as fuse-overlayfs does.

use thiserror::Error;

/// The id shown for a disk id no range covers (the kernel's default overflow id).
pub const OVERFLOW_ID: u32 = 65534;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdMapError {
    #[error("invalid id mapping {text:?}: {reason}")]
    Invalid { text: String, reason: &'static str },
}

/// One range: `count` ids from `disk` shown from `shown` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub disk: u32,
    pub shown: u32,
    pub count: u32,
}

impl IdRange {
    fn shown_for(&self, disk: u32) -> Option<u32> {
        let offset = disk.checked_sub(self.disk)?;
        (offset < self.count).then(|| self.shown + offset)
    }

    fn disk_for(&self, shown: u32) -> Option<u32> {
        let offset = shown.checked_sub(self.shown)?;
        (offset < self.count).then(|| self.disk + offset)
    }
}

/// A list of ranges for one kind of id; empty means "unchanged".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMapping {
    ranges: Vec<IdRange>,
}

impl IdMapping {
    pub fn new(ranges: Vec<IdRange>) -> Result<IdMapping, IdMapError> {
        for range in &ranges {
            let too_far = |start: u32| u64::from(start) + u64::from(range.count) > 1 << 32;
            if range.count == 0 || too_far(range.disk) || too_far(range.shown) {
                return Err(IdMapError::Invalid {
                    text: format!("{}:{}:{}", range.disk, range.shown, range.count),
                    reason: "a range must be non-empty and stay below 2^32",
                });
            }
        }
        Ok(IdMapping { ranges })
    }

    /// Parses `DISK:SHOWN:COUNT[:DISK:SHOWN:COUNT...]`.
    pub fn parse(text: &str) -> Result<IdMapping, IdMapError> {
        let invalid = |reason| IdMapError::Invalid {
            text: text.to_string(),
            reason,
        };
        let numbers = text
            .split(':')
            .map(|n| n.trim().parse::<u32>())
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| invalid("every field must be a number"))?;
        if numbers.is_empty() || numbers.len() % 3 != 0 {
            return Err(invalid("fields come in DISK:SHOWN:COUNT triples"));
        }
        let ranges = numbers
            .chunks(3)
            .map(|c| IdRange {
                disk: c[0],
                shown: c[1],
                count: c[2],
            })
            .collect();
        IdMapping::new(ranges).map_err(|_| invalid("a range is empty or passes 2^32"))
    }

    pub fn is_identity(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn ranges(&self) -> &[IdRange] {
        &self.ranges
    }

    /// The id shown for `disk` (the overflow id when no range covers it).
    pub fn shown(&self, disk: u32) -> u32 {
        if self.ranges.is_empty() {
            return disk;
        }
        self.ranges
            .iter()
            .find_map(|r| r.shown_for(disk))
            .unwrap_or(OVERFLOW_ID)
    }

    /// The id stored for `shown`, or None when no range covers it.
    pub fn disk(&self, shown: u32) -> Option<u32> {
        if self.ranges.is_empty() {
            return Some(shown);
        }
        self.ranges.iter().find_map(|r| r.disk_for(shown))
    }
}

/// Everything a server does to owners: uid and gid mappings plus squashing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdShift {
    pub uid: IdMapping,
    pub gid: IdMapping,
    /// Show every file as owned by this uid (`squash_to_uid=`, `squash_to_root`).
    pub squash_uid: Option<u32>,
    /// The same for gids.
    pub squash_gid: Option<u32>,
}

impl IdShift {
    /// True when the shift changes nothing (the server then skips it).
    pub fn is_identity(&self) -> bool {
        self.uid.is_identity()
            && self.gid.is_identity()
            && self.squash_uid.is_none()
            && self.squash_gid.is_none()
    }

    /// Whether owners are squashed (changes of owner are then dropped).
    pub fn squashes(&self) -> bool {
        self.squash_uid.is_some() || self.squash_gid.is_some()
    }

    /// The owner shown for a file owned by (uid, gid) on disk.
    pub fn shown(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            self.squash_uid.unwrap_or_else(|| self.uid.shown(uid)),
            self.squash_gid.unwrap_or_else(|| self.gid.shown(gid)),
        )
    }

    /// The owner stored for (uid, gid) as callers see them; None when either is unmapped.
    pub fn disk(&self, uid: u32, gid: u32) -> Option<(u32, u32)> {
        Some((self.uid.disk(uid)?, self.gid.disk(gid)?))
    }

    /// A shift that exchanges two ids and keeps every other one of `0..size`: what a
    /// volume needs so that the files of `owner` (on disk) show as `user`'s, and what
    /// `user` writes lands as `owner`'s.
    pub fn swap(owner: (u32, u32), user: (u32, u32), size: u32) -> IdShift {
        IdShift {
            uid: swap_mapping(owner.0, user.0, size),
            gid: swap_mapping(owner.1, user.1, size),
            squash_uid: None,
            squash_gid: None,
        }
    }
}

/// Ranges over `0..size` (widened to cover both ids) with `a` and `b` exchanged.
fn swap_mapping(a: u32, b: u32, size: u32) -> IdMapping {
    if a == b {
        return IdMapping::default();
    }
    let (low, high) = (a.min(b), a.max(b));
    let end = u64::from(size).max(u64::from(high) + 1);
    let mut ranges = Vec::new();
    let mut push = |disk: u32, shown: u32, count: u64| {
        if count > 0 {
            ranges.push(IdRange {
                disk,
                shown,
                count: count as u32,
            });
        }
    };
    push(0, 0, u64::from(low));
    push(low, high, 1);
    push(low + 1, low + 1, u64::from(high - low - 1));
    push(high, low, 1);
    push(high + 1, high + 1, end - u64::from(high) - 1);
    IdMapping { ranges }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_map_both_ways_and_unmapped_ids_overflow() {
        let m = IdMapping::parse("0:1000:1:1:100000:65536").unwrap();
        assert_eq!(m.shown(0), 1000);
        assert_eq!(m.shown(1), 100000);
        assert_eq!(m.shown(65536), 165535);
        assert_eq!(m.shown(65537), OVERFLOW_ID);
        assert_eq!(m.disk(1000), Some(0));
        assert_eq!(m.disk(100005), Some(6));
        assert_eq!(m.disk(0), None);
        assert_eq!(m.disk(165536), None);
    }

    #[test]
    fn empty_mapping_is_identity() {
        let m = IdMapping::default();
        assert!(m.is_identity());
        assert_eq!(m.shown(42), 42);
        assert_eq!(m.disk(42), Some(42));
        assert!(IdShift::default().is_identity());
    }

    #[test]
    fn bad_mappings_are_errors() {
        for bad in [
            "",
            "1:2",
            "1:2:3:4",
            "a:b:c",
            "0:0:0",
            "4294967295:0:2",
            "-1:0:1",
        ] {
            assert!(IdMapping::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(IdMapping::parse("4294967295:0:1").is_ok());
    }

    #[test]
    fn squash_changes_only_what_is_shown() {
        let shift = IdShift {
            squash_uid: Some(0),
            gid: IdMapping::parse("5:50:1").unwrap(),
            ..IdShift::default()
        };
        assert_eq!(shift.shown(7, 5), (0, 50));
        assert_eq!(shift.shown(7, 6), (0, OVERFLOW_ID));
        assert_eq!(shift.disk(7, 50), Some((7, 5)));
        assert_eq!(shift.disk(7, 51), None);
        assert!(shift.squashes());
    }

    #[test]
    fn swap_exchanges_two_ids_and_keeps_the_rest() {
        let shift = IdShift::swap((0, 0), (1000, 100), 65537);
        assert_eq!(shift.shown(0, 0), (1000, 100));
        assert_eq!(shift.shown(1000, 100), (0, 0));
        assert_eq!(shift.shown(5, 5), (5, 5));
        assert_eq!(shift.shown(65536, 65536), (65536, 65536));
        assert_eq!(shift.shown(65537, 65537), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(shift.disk(1000, 100), Some((0, 0)));
        assert_eq!(shift.disk(0, 0), Some((1000, 100)));
        for id in [0, 1, 999, 1000, 1001, 65536] {
            assert_eq!(shift.uid.disk(shift.uid.shown(id)), Some(id));
        }
        assert!(IdShift::swap((3, 3), (3, 3), 10).is_identity());
        // Ids beyond the namespace's size still swap.
        let wide = IdShift::swap((0, 0), (70000, 70000), 10);
        assert_eq!(wide.shown(0, 0), (70000, 70000));
        assert_eq!(wide.shown(70000, 9), (0, 9));
    }
}
