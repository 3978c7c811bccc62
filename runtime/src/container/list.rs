//! `list`: every container under the runtime root.

use std::path::Path;

use crate::error::{Context, Result};
use crate::state::{State, StateDir};

pub fn list(root: &Path) -> Result<Vec<State>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context(|| format!("cannot read {}", root.display())),
    };
    let mut states = Vec::new();
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        // Directories without state.json are containers still being created.
        if let Ok(dir) = StateDir::open(root, &id) {
            if let Ok(state) = dir.load() {
                states.push(state);
            }
        }
    }
    states.sort_by(|a, b| a.created.cmp(&b.created));
    Ok(states)
}
