//! Translating OCI mount option strings into mount(2) flags and data.

use nix::mount::MsFlags;

/// A mount's options, split the way mount(2) wants them.
#[derive(Debug, PartialEq)]
pub struct MountOptions {
    /// Flags for the mount (or for the read-only/nosuid remount of a bind).
    pub flags: MsFlags,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<MsFlags>,
    /// A bind mount (`bind` or `rbind`).
    pub bind: bool,
    /// Recursive bind (`rbind`).
    pub recursive: bool,
    /// Filesystem-specific options, comma-joined.
    pub data: String,
}

impl MountOptions {
    pub fn parse(options: &[String]) -> MountOptions {
        let mut parsed = MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            bind: false,
            recursive: false,
            data: String::new(),
        };
        let mut data = Vec::new();
        for option in options {
            match option.as_str() {
                "bind" => parsed.bind = true,
                "rbind" => {
                    parsed.bind = true;
                    parsed.recursive = true;
                }
                other => {
                    if let Some(p) = propagation_flag(other) {
                        parsed.propagation.push(p);
                    } else if let Some((set, flag)) = mount_flag(other) {
                        if set {
                            parsed.flags |= flag;
                        } else {
                            parsed.flags &= !flag;
                        }
                    } else {
                        data.push(other.to_string());
                    }
                }
            }
        }
        parsed.data = data.join(",");
        parsed
    }

    /// The flags that need a remount after a bind (bind ignores them).
    pub fn remount_flags(&self) -> MsFlags {
        self.flags
            & (MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC
                | MsFlags::MS_NOATIME
                | MsFlags::MS_NODIRATIME
                | MsFlags::MS_RELATIME
                | MsFlags::MS_STRICTATIME)
    }

    /// The data string without the option named `key` (e.g. devpts `gid`).
    pub fn data_without(&self, key: &str) -> String {
        self.data
            .split(',')
            .filter(|o| !o.is_empty() && o.split('=').next() != Some(key))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn propagation_flag(option: &str) -> Option<MsFlags> {
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// (true = set, false = clear) and the flag an option names.
fn mount_flag(option: &str) -> Option<(bool, MsFlags)> {
    Some(match option {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "atime" => (false, MsFlags::MS_NOATIME),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "defaults" => (false, MsFlags::empty()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> MountOptions {
        MountOptions::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_propagation_and_data_are_split() {
        let o = opts(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "rslave",
            "ro",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, "newinstance,ptmxmode=0666");
        assert!(!o.bind);
    }

    #[test]
    fn rbind_is_recursive_bind_and_rw_clears_ro() {
        let o = opts(&["ro", "rbind", "rw"]);
        assert!(o.bind && o.recursive);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn data_without_drops_one_key() {
        let o = opts(&["newinstance", "gid=5", "mode=0620"]);
        assert_eq!(o.data_without("gid"), "newinstance,mode=0620");
    }
}
