//! `burrow info`: where the store is and what this machine offers a rootless
//! engine — each missing piece with what to do about it.

use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// json for a machine-readable report.
    #[arg(short, long)]
    format: Option<String>,
}

/// One capability check: whether it holds, and the fix when it does not.
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    hint: String,
}

pub fn run(root: Option<&Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let checks = checks();
    let images = burrow_engine::images::image_store_dir(&store);
    if args.format.as_deref() == Some("json") {
        let report = serde_json::json!({
            "store": {"data": store.data, "run": store.run, "images": images},
            "version": env!("CARGO_PKG_VERSION"),
            "config_file": crate::config::path(),
            "checks": checks.iter().map(|c| serde_json::json!({
                "name": c.name, "ok": c.ok, "detail": c.detail, "hint": c.hint,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    println!("burrow version {}", env!("CARGO_PKG_VERSION"));
    println!("store:        {}", store.data.display());
    println!("runtime dir:  {}", store.run.display());
    println!("image store:  {}", images.display());
    if let Some(config) = crate::config::path() {
        let state = if config.exists() { "" } else { " (none)" };
        println!("config file:  {}{state}", config.display());
    }
    for c in &checks {
        let mark = if c.ok { "yes" } else { "no " };
        println!("{:<20}{mark}  {}", format!("{}:", c.name), c.detail);
        if !c.ok {
            println!("{:<25}hint: {}", "", c.hint);
        }
    }
    Ok(0)
}

fn checks() -> Vec<Check> {
    let uid = nix::unistd::geteuid();
    let user = nix::unistd::User::from_uid(uid).ok().flatten();
    let name = user.map(|u| u.name).unwrap_or_else(|| uid.to_string());
    let subuid = burrow_engine::spec_builder::subordinate_range("/etc/subuid", &name, uid.as_raw());
    let subgid = burrow_engine::spec_builder::subordinate_range(
        "/etc/subgid",
        &name,
        nix::unistd::getegid().as_raw(),
    );
    let helpers = ["newuidmap", "newgidmap"]
        .iter()
        .all(|h| burrow_engine::spec_builder::on_path(h));
    let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0);
    let cgroup_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let delegated = burrow_runtime::cgroups_delegated();
    vec![
        Check {
            name: "user ns",
            ok: userns,
            detail: "unprivileged user namespaces".into(),
            hint: "set user.max_user_namespaces > 0 (sysctl)".into(),
        },
        Check {
            name: "id mapping",
            ok: subuid.is_some() && subgid.is_some() && helpers,
            detail: match (subuid, helpers) {
                (Some((start, count)), true) => {
                    format!("root → {uid}, 1..{count} → {start}.. (newuidmap)")
                }
                _ => format!("single id: root → {uid} only"),
            },
            hint: if helpers {
                "see subuid and subgid below".into()
            } else {
                "sudo apt-get install uidmap (newuidmap, newgidmap)".into()
            },
        },
        subordinate_check("subuid", "/etc/subuid", subuid, &name),
        subordinate_check("subgid", "/etc/subgid", subgid, &name),
        Check {
            name: "fuse",
            ok: accessible("/dev/fuse"),
            detail: "/dev/fuse for the overlay filesystem".into(),
            hint: "sudo chmod 0666 /dev/fuse (as distributions ship it; needs the fuse module: sudo modprobe fuse)".into(),
        },
        Check {
            name: "tun",
            ok: accessible("/dev/net/tun"),
            detail: "/dev/net/tun for container networking".into(),
            hint: "sudo chmod 0666 /dev/net/tun (as distributions ship it; needs the tun module: sudo modprobe tun)".into(),
        },
        Check {
            name: "cgroups",
            ok: cgroup_v2,
            detail: if cgroup_v2 {
                "unified cgroup v2".into()
            } else {
                "v1 or hybrid: containers run without resource limits".into()
            },
            hint: "boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line".into(),
        },
        Check {
            name: "cgroup delegation",
            ok: delegated,
            detail: if delegated {
                "a writable cgroup subtree: --memory, --pids-limit, --cpus are enforced".into()
            } else {
                "no writable cgroup subtree: resource limits are only warned about".into()
            },
            hint: "run burrow in a delegated scope: systemd-run --user --scope -p Delegate=yes burrow … (or set Delegate=yes for user@.service)".into(),
        },
    ]
}

/// Whether `user` has subordinate ids in `file`, with the exact line to add if not.
fn subordinate_check(
    name: &'static str,
    file: &str,
    range: Option<(u32, u32)>,
    user: &str,
) -> Check {
    Check {
        name,
        ok: range.is_some(),
        detail: match range {
            Some((start, count)) => format!("{count} ids from {start} in {file}"),
            None => format!("no range for {user} in {file}: containers get a single id"),
        },
        hint: format!(
            "add the line `{user}:100000:65536` to {file} (e.g. sudo usermod --add-{name}s 100000-165535 {user})"
        ),
    }
}

fn accessible(path: &str) -> bool {
    nix::unistd::access(
        path,
        nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK,
    )
    .is_ok()
}
