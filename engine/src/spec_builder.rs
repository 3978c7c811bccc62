//! Turning what the user asked for (`RunConfig`) into an OCI runtime spec:
//! the rootless defaults (user namespace — the caller as root plus its
//! subordinate range when `newuidmap` can map it —, pid/ipc/uts/mount/cgroup
//! namespaces, proc/dev/sys mounts), Docker's default capability set, the
//! process, hostname, the user's mounts (binds, volumes, tmpfs) and the
//! network mode.

use std::path::Path;

use burrow_runtime::spec::oci::{
    Capabilities, Capability, LinuxNamespace, LinuxNamespaceType, Mount, Spec,
};

use crate::error::{EngineError, Result};
use crate::mounts::{tmpfs_mount_options, MountKind, MountSpec};
use crate::record::RunConfig;

/// Docker's default capabilities for a container.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

pub fn build(config: &RunConfig, id: &str) -> Result<Spec> {
    let mut spec = burrow_runtime::spec::default_spec(true);
    spec.set_hostname(Some(
        config
            .hostname
            .clone()
            .unwrap_or_else(|| id[..12.min(id.len())].to_string()),
    ));
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path(config.rootfs.clone());
    root.set_readonly(Some(config.read_only));
    spec.set_root(Some(root));
    set_process(&mut spec, config)?;
    leave_user_namespace_to_the_supervisor(&mut spec);
    set_network(&mut spec, &config.network)?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    // A user mount replaces a default one at the same place (e.g. /dev/shm).
    mounts.retain(|m| {
        !config
            .mounts
            .iter()
            .any(|u| Path::new(&u.target) == m.destination())
    });
    // Parents before children, whatever the order on the command line.
    let mut user_mounts: Vec<&MountSpec> = config.mounts.iter().collect();
    user_mounts.sort_by_key(|m| Path::new(&m.target).components().count());
    mounts.extend(user_mounts.into_iter().map(oci_mount));
    spec.set_mounts(Some(mounts));
    Ok(spec)
}

fn set_process(spec: &mut Spec, config: &RunConfig) -> Result<()> {
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(config.args.clone()));
    process.set_terminal(Some(config.tty));
    let mut env = vec![format!(
        "PATH={}",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )];
    if config.tty {
        env.push("TERM=xterm".into());
    }
    for kv in &config.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    process.set_env(Some(env));
    if let Some(dir) = &config.workdir {
        process.set_cwd(dir.into());
    }
    if let Some(user) = &config.user {
        let (uid, gid) = parse_user(user)?;
        process.user_mut().set_uid(uid);
        process.user_mut().set_gid(gid);
    }
    process.set_no_new_privileges(Some(false));
    process.set_capabilities(Some(capabilities(&config.cap_add, &config.cap_drop)?));
    spec.set_process(Some(process));
    Ok(())
}

/// `UID[:GID]` (numeric); a bare UID is also the GID, as Docker does.
pub fn parse_user(user: &str) -> Result<(u32, u32)> {
    let bad = || EngineError::Other(format!("invalid --user {user:?}: use UID[:GID] (numeric)"));
    match user.split_once(':') {
        Some((u, g)) => Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?)),
        None => {
            let uid = user.parse().map_err(|_| bad())?;
            Ok((uid, uid))
        }
    }
}

fn capabilities(
    add: &[String],
    drop: &[String],
) -> Result<burrow_runtime::spec::oci::LinuxCapabilities> {
    let parse = |name: &str| -> Result<Capability> {
        let bare = name.to_ascii_uppercase();
        let bare = bare.trim_start_matches("CAP_");
        bare.parse()
            .map_err(|_| EngineError::Other(format!("unknown capability {name:?}")))
    };
    let mut set: Capabilities = DEFAULT_CAPABILITIES
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    for name in drop {
        if name.eq_ignore_ascii_case("ALL") {
            set.clear();
        } else {
            set.remove(&parse(name)?);
        }
    }
    for name in add {
        if name.eq_ignore_ascii_case("ALL") {
            set.extend(all_capabilities());
        } else {
            set.insert(parse(name)?);
        }
    }
    let mut caps = burrow_runtime::spec::oci::LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    Ok(caps)
}

fn all_capabilities() -> Vec<Capability> {
    (0..=40)
        .filter_map(|n| caps_name(n).and_then(|name| name.trim_start_matches("CAP_").parse().ok()))
        .collect()
}

fn caps_name(n: u8) -> Option<String> {
    burrow_runtime::spec::capability_name(n)
}

/// The supervisor runs the container inside the user namespace it made for
/// itself (see `crate::userns`), as root there: the container shares that
/// namespace rather than making another one.
fn leave_user_namespace_to_the_supervisor(spec: &mut Spec) {
    if let Some(linux) = spec.linux_mut() {
        if let Some(namespaces) = linux.namespaces_mut() {
            namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::User);
        }
        linux.set_uid_mappings(None);
        linux.set_gid_mappings(None);
    }
}

/// The first `NAME:START:COUNT` (or `UID:…`) line of `file` for this user.
pub fn subordinate_range(file: &str, name: &str, id: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        if owner != name && owner != id.to_string() {
            return None;
        }
        Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
    })
}

/// Whether `program` is an executable file in a `$PATH` directory.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

fn set_network(spec: &mut Spec, mode: &str) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Network);
    match mode {
        "host" => {}
        // `bridge` (Docker's default), a user-defined network, or `none`: a
        // network namespace of its own (the supervisor serves its eth0, except
        // with `none`). Whether a user network exists is checked by `create`.
        _ => {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(LinuxNamespaceType::Network);
            namespaces.push(ns);
            own_sysfs(spec);
        }
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_namespaces(Some(namespaces));
    }
    Ok(())
}

/// With a network namespace of its own, the container gets a sysfs of its
/// own (showing its interfaces) instead of the host's /sys bound read-only.
fn own_sysfs(spec: &mut Spec) {
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for mount in mounts.iter_mut() {
        if mount.destination() == Path::new("/sys") {
            mount.set_typ(Some("sysfs".into()));
            mount.set_source(Some("sysfs".into()));
            mount.set_options(Some(
                ["nosuid", "noexec", "nodev", "ro"]
                    .map(String::from)
                    .to_vec(),
            ));
        }
    }
    spec.set_mounts(Some(mounts));
}

/// A bind or volume is an rbind of its host directory (rprivate unless
/// asked otherwise); a tmpfs gets Docker's nosuid, nodev, noexec defaults.
fn oci_mount(user: &MountSpec) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(user.target.clone().into());
    match user.kind {
        MountKind::Bind | MountKind::Volume => {
            let propagation = user.propagation.as_deref().unwrap_or("rprivate");
            let mut options = vec!["rbind".to_string(), propagation.to_string()];
            if user.readonly {
                options.push("ro".into());
            }
            mount.set_typ(Some("bind".into()));
            mount.set_source(Some(user.host_source.clone()));
            mount.set_options(Some(options));
        }
        MountKind::Tmpfs => {
            mount.set_typ(Some("tmpfs".into()));
            mount.set_source(Some("tmpfs".into()));
            mount.set_options(Some(tmpfs_mount_options(user)));
        }
    }
    mount
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse() {
        assert_eq!(parse_user("1000").unwrap(), (1000, 1000));
        assert_eq!(parse_user("1:2").unwrap(), (1, 2));
        assert!(parse_user("bob").is_err());
    }

    #[test]
    fn cap_add_and_drop_change_the_default_set() {
        let caps = capabilities(&["SYS_ADMIN".into()], &["NET_RAW".into()]).unwrap();
        let bounding = caps.bounding().clone().unwrap();
        assert!(bounding.contains(&Capability::SysAdmin));
        assert!(!bounding.contains(&Capability::NetRaw));
        assert!(bounding.contains(&Capability::Chown));
        assert!(capabilities(&["NOPE".into()], &[]).is_err());
        assert!(capabilities(&[], &["ALL".into()])
            .unwrap()
            .bounding()
            .clone()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn user_mounts_become_spec_mounts_parents_first() {
        use crate::mounts::{parse_mount_flag, parse_tmpfs_flag, parse_volume_flag};
        let mut volume = parse_volume_flag("data:/srv/data:ro").unwrap();
        volume.host_source = "/store/volumes/data/_data".into();
        let mut bind = parse_volume_flag("/tmp:/srv").unwrap();
        bind.host_source = "/tmp".into();
        let shm = parse_tmpfs_flag("/dev/shm:size=1m").unwrap();
        let tmpfs = parse_mount_flag("type=tmpfs,target=/scratch,tmpfs-mode=1777").unwrap();
        let config = RunConfig {
            rootfs: "/rootfs".into(),
            args: vec!["true".into()],
            mounts: vec![volume, bind, shm, tmpfs],
            ..Default::default()
        };
        let spec = build(&config, &"0".repeat(64)).unwrap();
        let mounts = spec.mounts().clone().unwrap();
        let at = |dest: &str| {
            mounts
                .iter()
                .position(|m| m.destination() == Path::new(dest))
                .unwrap()
        };
        assert!(at("/srv") < at("/srv/data"));
        let data = &mounts[at("/srv/data")];
        assert_eq!(
            data.source().as_deref(),
            Some(Path::new("/store/volumes/data/_data"))
        );
        assert_eq!(data.options().clone().unwrap(), ["rbind", "rprivate", "ro"]);
        let shm: Vec<_> = mounts
            .iter()
            .filter(|m| m.destination() == Path::new("/dev/shm"))
            .collect();
        assert_eq!(shm.len(), 1, "the user's /dev/shm replaces the default");
        assert!(shm[0]
            .options()
            .clone()
            .unwrap()
            .contains(&"size=1048576".to_string()));
        let scratch = &mounts[at("/scratch")];
        assert_eq!(scratch.typ().as_deref(), Some("tmpfs"));
        assert_eq!(
            scratch.options().clone().unwrap(),
            ["noexec", "nosuid", "nodev", "mode=1777"]
        );
    }
}
