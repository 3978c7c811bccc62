//! `burrow supervise ID` (internal): the per-container supervisor process.

use anyhow::Result;

pub fn run(root: Option<&std::path::Path>, id: &str, wait_for_attach: bool) -> Result<i32> {
    burrow_runtime::selfexe::ensure_sealed()?;
    // Started as /proc/self/exe: name the process for ps and top.
    let _ = nix::sys::prctl::set_name(c"burrow");
    // One process per container: one malloc arena for all its threads keeps
    // its memory small (the threads mostly wait). Buffers of 64 KiB and more
    // (FUSE request and read buffers, frame buffers) get pages of their own that
    // go back to the kernel when freed, and a fixed threshold keeps glibc from
    // raising it (to 16 MiB after the first FUSE buffer is freed) and growing the
    // heap with them.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
    let store = super::store(root)?;
    Ok(burrow_engine::supervisor::supervise(
        &store,
        id,
        wait_for_attach,
    )?)
}
