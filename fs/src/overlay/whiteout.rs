//! The OCI layer-diff naming rules the overlay reads and writes in every layer.
//!
//! `.wh.NAME` in a layer hides NAME of the layers below; `.wh..wh..opq` in a directory
//! hides everything below that directory in lower layers. Both are plain empty files in
//! burrow's layers and upper dir. A character device 0:0 (the kernel overlayfs whiteout)
//! is also honoured in lowers, so directories prepared for the kernel overlay work too.
//! Names starting with `.wh.` cannot exist in the merged view.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

pub const PREFIX: &[u8] = b".wh.";
pub const OPAQUE: &str = ".wh..wh..opq";

/// True for names that are overlay bookkeeping, never shown or accepted.
pub fn is_reserved(name: &OsStr) -> bool {
    name.as_bytes().starts_with(PREFIX)
}

/// `.wh.NAME`, or None when that would exceed NAME_MAX.
pub fn whiteout_for(name: &OsStr) -> Option<OsString> {
    if name.len() + PREFIX.len() > 255 {
        return None;
    }
    let mut out = PREFIX.to_vec();
    out.extend_from_slice(name.as_bytes());
    Some(OsString::from_vec(out))
}

/// The hidden name when `name` is a whiteout entry (not the opaque marker).
pub fn hidden_by(name: &OsStr) -> Option<&OsStr> {
    let rest = name.as_bytes().strip_prefix(PREFIX)?;
    if rest.is_empty() || name == OPAQUE {
        return None;
    }
    Some(OsStr::from_bytes(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names() {
        assert_eq!(whiteout_for(OsStr::new("a")).unwrap(), ".wh.a");
        assert_eq!(hidden_by(OsStr::new(".wh.a")).unwrap(), "a");
        assert_eq!(hidden_by(OsStr::new(OPAQUE)), None);
        assert_eq!(hidden_by(OsStr::new("a")), None);
        assert!(is_reserved(OsStr::new(".wh.x")));
        assert!(!is_reserved(OsStr::new(".whx")));
        let long = "x".repeat(252);
        assert!(whiteout_for(OsStr::new(&long)).is_none());
        assert!(whiteout_for(OsStr::new(&long[..251])).is_some());
    }
}
