//! Which OCI runtime the scenarios drive: burrow (`burrow oci …`), or runc as the oracle.
//!
//! Running the same scenarios against runc (`BURROW_TEST_RUNTIME=runc`) checks the tests'
//! expectations on a runtime known to be right, so a failure against burrow is burrow's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::binary::burrow_binary;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// The burrow binary; its OCI command is `burrow oci`.
    Burrow(PathBuf),
    /// runc, the reference implementation.
    Runc(PathBuf),
}

impl Runtime {
    /// The runtime chosen by `BURROW_TEST_RUNTIME` (`burrow`, the default, or `runc`).
    pub fn from_env() -> Runtime {
        match std::env::var("BURROW_TEST_RUNTIME").as_deref() {
            Ok("runc") => Runtime::runc(),
            Ok("burrow") | Err(_) => Runtime::burrow(),
            Ok(other) => panic!("BURROW_TEST_RUNTIME={other:?}: expected burrow or runc"),
        }
    }

    /// burrow, built and copied where the test user can run it.
    pub fn burrow() -> Runtime {
        Runtime::Burrow(burrow_binary().burrow.clone())
    }

    /// runc from PATH (or `/usr/sbin/runc`); panics when it is not installed.
    pub fn runc() -> Runtime {
        let candidates = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"];
        let found = std::env::var_os("PATH")
            .map(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("runc"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .chain(candidates.iter().map(PathBuf::from))
            .find(|path| path.is_file());
        match found {
            Some(path) => Runtime::Runc(path),
            None => panic!("runc is not installed (run .ci/run, which installs it)"),
        }
    }

    pub fn is_burrow(&self) -> bool {
        matches!(self, Runtime::Burrow(_))
    }

    /// Program and leading arguments of the runtime's OCI command line.
    pub fn oci_command(&self) -> (PathBuf, Vec<OsString>) {
        match self {
            Runtime::Burrow(bin) => (bin.clone(), vec!["oci".into()]),
            Runtime::Runc(bin) => (bin.clone(), vec![]),
        }
    }

    pub fn program(&self) -> &Path {
        match self {
            Runtime::Burrow(bin) | Runtime::Runc(bin) => bin,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Runtime::Burrow(_) => "burrow",
            Runtime::Runc(_) => "runc",
        }
    }
}
