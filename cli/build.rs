//! Records the compiler's version for `burrow version` (Docker shows its Go version there),
//! and links `burrow` as a position-dependent executable: every container has a supervisor
//! running this binary, and a PIE's relocated read-only data (~0.4 MiB) becomes private
//! dirty memory in each of them, where a fixed-address binary shares those pages.

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BURROW_RUSTC_VERSION={version}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
