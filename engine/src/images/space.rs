//! Running out of disk space in the middle of a pull or load. What such a command
//! completed before the failure (verified blobs, unpacked layers) is what fills the
//! disk, so it is removed again and the store is left as it was ([`undo_since`]
//! of `burrow-image`, run as the containers' root so layer files of subordinate ids can
//! go). The user sees one line naming the operation, the image and the cause, worded
//! like the kernel's `no space left on device`.
//!
//! Other failures (a registry gone mid-blob) keep what was complete, so the next pull
//! resumes from it; `image prune` removes it if no image ends up using it.
//!
//! [`undo_since`]: burrow_image::Store::undo_since

use std::error::Error;

use burrow_image::store::Undone;

use crate::error::{EngineError, Result};

/// Runs `work` (a pull or load into `images`); when it fails for lack of space, undoes
/// what it added and says so in one line: `PREFIX: no space left on device (…)`, e.g.
/// `pull of NAME failed: no space left on device (…)` (`load` leaves the prefix to its
/// caller, which names the archive).
pub fn undo_if_full<T>(
    images: &burrow_image::Store,
    operation: &str,
    prefix: Option<&str>,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let mark = images.mark()?;
    let error = match work() {
        Ok(value) => return Ok(value),
        Err(error) if is_out_of_space(&error) => error,
        Err(error) => return Err(error),
    };
    let undone = crate::userns::run_as_container_root(|| {
        match images.undo_since(&mark).map_err(|e| e.to_string())? {
            Undone::Removed { blobs, layers } => Ok(format!("{blobs} blobs, {layers} layers")),
            Undone::Busy => Ok("nothing: the store is busy".to_string()),
        }
    });
    match undone {
        Ok(what) => log::debug!("{operation} ran out of space; removed again: {what}"),
        Err(e) => log::warn!("{operation} ran out of space; cleaning up failed: {e}"),
    }
    let prefix = prefix.map(|p| format!("{p}: ")).unwrap_or_default();
    Err(EngineError::Other(format!(
        "{prefix}no space left on device ({})",
        without_errno_suffix(&error.to_string())
    )))
}

/// ENOSPC or EDQUOT anywhere in the chain (some layers of the unpacker keep only the
/// message, so the kernel's wording counts too).
pub(super) fn is_out_of_space(error: &EngineError) -> bool {
    let mut next: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if matches!(io.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
                || io.kind() == std::io::ErrorKind::StorageFull
            {
                return true;
            }
        }
        let text = current.to_string();
        if text.contains("No space left on device") || text.contains("Disk quota exceeded") {
            return true;
        }
        next = current.source();
    }
    false
}

/// The detail without the kernel's words, which the line already says.
fn without_errno_suffix(text: &str) -> String {
    text.replace(": No space left on device (os error 28)", "")
        .replace(" (os error 28)", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_space_is_found_in_the_message_or_the_source() {
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let text = format!("failed to write file data: {io}");
        assert!(is_out_of_space(&EngineError::Other(text.clone())));
        assert!(!is_out_of_space(&EngineError::Other("gone".into())));
        assert_eq!(without_errno_suffix(&text), "failed to write file data");
    }
}
