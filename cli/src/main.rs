//! The `burrow` binary. Invoked as `burrow-oci` it is the runc-compatible
//! runtime (`burrow oci …`), so podman, containerd and CRI-O can drive it; invoked
//! as `burrow-overlay` it is the overlay filesystem with fuse-overlayfs's command line.

mod commands;
mod oci_log;

use clap::Parser;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let code = if invoked_as == "burrow-oci" {
        commands::oci::main(args)
    } else if invoked_as == "burrow-overlay" {
        commands::overlay::main(args)
    } else if args.get(1).is_some_and(|a| a == "oci") {
        // runc's command line verbatim: its flags must not meet burrow's own.
        let mut argv = vec![std::ffi::OsString::from("burrow oci")];
        argv.extend(args.into_iter().skip(2));
        commands::oci::main(argv)
    } else {
        let cli = commands::Cli::parse_from(args);
        commands::dispatch(cli)
    };
    std::process::exit(code);
}
