//! Host tools as a test needs to see them.

use std::path::Path;

use crate::Sandbox;

/// A PATH holding only `setpriv` (which the harness needs to drop privileges),
/// for tests of what burrow says when a helper such as newuidmap is missing.
pub fn path_with_only_setpriv(sandbox: &Sandbox) -> String {
    let bin = sandbox.make_dir("bin-only-setpriv");
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("setpriv (util-linux) is installed");
    std::os::unix::fs::symlink(setpriv, bin.join("setpriv")).expect("symlink setpriv");
    bin.display().to_string()
}
