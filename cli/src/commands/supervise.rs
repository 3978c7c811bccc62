//! `burrow supervise ID` (internal): the per-container supervisor process.

use anyhow::Result;

pub fn run(root: Option<&std::path::Path>, id: &str, wait_for_attach: bool) -> Result<i32> {
    burrow_runtime::selfexe::ensure_sealed()?;
    let store = super::store(root)?;
    Ok(burrow_engine::supervisor::supervise(
        &store,
        id,
        wait_for_attach,
    )?)
}
