//! The extended attributes a layer archive carries for a file (`commit` writes them as
//! PAX `SCHILY.xattr.*` records, which the unpacker sets again): every attribute the
//! file has except the overlay's own bookkeeping (`user.burrow.*`, the override-stat
//! owner records), which describe this store, not the image. Read as the containers'
//! root, `security.capability` comes back in the namespace's own (v2) form, so the
//! record is what the container saw.

use std::io;
use std::path::Path;

use crate::overlay::is_private_xattr;
use crate::sys;

/// `(name, value)` of each attribute of `path` (not following a symlink) worth
/// archiving; none where the filesystem has no xattrs.
pub fn archivable(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let names = match sys::llistxattr(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        if is_private_xattr(&name) {
            continue;
        }
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(value) = sys::lgetxattr(path, name)? {
            out.push((name.to_string(), value));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_attributes_are_kept_and_bookkeeping_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let set = |name: &str, value: &[u8]| {
            rustix::fs::setxattr(&file, name, value, rustix::fs::XattrFlags::empty())
        };
        if set("user.test", b"1").is_err() {
            eprintln!("skipped: no user xattrs on this filesystem");
            return;
        }
        set("user.burrow.origin", b"7").unwrap();
        set(crate::ownership::OVERRIDE_STAT_XATTR, b"0:0:0644").unwrap();
        assert_eq!(
            archivable(&file).unwrap(),
            vec![("user.test".to_string(), b"1".to_vec())]
        );
    }
}
