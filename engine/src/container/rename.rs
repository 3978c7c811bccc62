//! `rename`: a new name, under the store lock, with `create`'s rules.

use crate::error::{EngineError, Result};
use crate::ids::validate_name;
use crate::record::ContainerRecord;
use crate::store::Store;

pub fn rename(store: &Store, record: &ContainerRecord, new_name: &str) -> Result<()> {
    validate_name(new_name)?;
    let _lock = store.lock()?;
    let all = store.list()?;
    if all.iter().any(|r| r.name == new_name && r.id != record.id) {
        return Err(EngineError::NameInUse(new_name.into()));
    }
    let mut current = store.load(&record.id)?;
    if current.name == new_name {
        return Err(EngineError::Other(format!(
            "renaming a container with the same name as its current name: {new_name:?}"
        )));
    }
    current.name = new_name.into();
    store.save_renamed(&current)
}
