//! A container's confinement beyond namespaces and capabilities, as Docker's
//! flags set it: the seccomp filter (Docker's default unless `--security-opt
//! seccomp=unconfined|PROFILE.json`), `no-new-privileges`, `--privileged`,
//! `--ulimit`, and the resource limits (`--memory`, `--pids-limit`,
//! `--cpus`), which apply where a delegated cgroup v2 tree exists.

use std::path::Path;

use burrow_runtime::spec::oci::{
    Arch, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxSeccomp,
    LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator, LinuxSyscall,
    LinuxSyscallBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType, Spec,
};

use crate::error::{EngineError, Result};
use crate::record::RunConfig;

/// `clone` flags that make namespaces, refused as Docker's profile does.
const NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

/// Applies `--security-opt`, `--privileged`, `--ulimit` and the limits to `spec`.
pub fn apply(spec: &mut Spec, config: &RunConfig) -> Result<()> {
    let mut seccomp = Some(default_seccomp()?);
    let mut no_new_privileges = false;
    for option in &config.security_opt {
        let (key, value) = option
            .split_once(['=', ':'])
            .unwrap_or((option.as_str(), ""));
        match (key, value) {
            ("seccomp", "unconfined") => seccomp = None,
            ("seccomp", path) if !path.is_empty() => seccomp = Some(load_profile(Path::new(path))?),
            ("no-new-privileges", "" | "true") => no_new_privileges = true,
            ("no-new-privileges", "false") => no_new_privileges = false,
            ("label" | "apparmor", _) => {} // no LSM is used rootless
            _ => {
                return Err(EngineError::Other(format!(
                    "invalid --security-opt {option:?}: use seccomp=unconfined|PROFILE, \
                     no-new-privileges[=true|false], label=…, apparmor=…"
                )))
            }
        }
    }
    if config.privileged {
        seccomp = None;
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(seccomp);
        if config.privileged {
            linux.set_masked_paths(Some(Vec::new()));
            linux.set_readonly_paths(Some(Vec::new()));
        }
        linux.set_resources(resources(config)?);
    }
    if let Some(process) = spec.process_mut() {
        process.set_no_new_privileges(Some(no_new_privileges));
        let mut rlimits = process.rlimits().clone().unwrap_or_default();
        for ulimit in &config.ulimits {
            let limit = parse_ulimit(ulimit)?;
            rlimits.retain(|r| r.typ() != limit.typ());
            rlimits.push(limit);
        }
        process.set_rlimits(Some(rlimits));
    }
    Ok(())
}

/// Docker's default profile, as a deny list: everything is allowed but the
/// syscalls its allow list leaves out for an unprivileged container.
pub fn default_seccomp() -> Result<LinuxSeccomp> {
    let errno = |number: i32, names: &[&str]| -> Result<LinuxSyscall> {
        LinuxSyscallBuilder::default()
            .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(number as u32)
            .build()
            .map_err(|e| EngineError::Other(format!("seccomp profile: {e}")))
    };
    let mut syscalls = vec![errno(libc::EPERM, burrow_runtime::seccomp::DOCKER_BLOCKED)?];
    for flag in NAMESPACE_FLAGS {
        let arg = LinuxSeccompArgBuilder::default()
            .index(0usize)
            .value(*flag)
            .value_two(*flag)
            .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
            .build()
            .map_err(|e| EngineError::Other(format!("seccomp profile: {e}")))?;
        let mut rule = errno(libc::EPERM, &["clone"])?;
        rule.set_args(Some(vec![arg]));
        syscalls.push(rule);
    }
    // clone3's flags are in memory a filter cannot read: ENOSYS makes libc fall
    // back to clone, which the rules above see (Docker does the same).
    syscalls.push(errno(libc::ENOSYS, &["clone3"])?);
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActAllow);
    profile.set_architectures(Some(vec![
        Arch::ScmpArchX86_64,
        Arch::ScmpArchX86,
        Arch::ScmpArchX32,
        Arch::ScmpArchAarch64,
        Arch::ScmpArchArm,
    ]));
    profile.set_syscalls(Some(syscalls));
    Ok(profile)
}

fn load_profile(path: &Path) -> Result<LinuxSeccomp> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        EngineError::Other(format!(
            "cannot read seccomp profile {}: {e}",
            path.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| EngineError::Other(format!("invalid seccomp profile {}: {e}", path.display())))
}

/// `NAME=SOFT[:HARD]` (Docker's names: nofile, nproc, core, …).
fn parse_ulimit(spec: &str) -> Result<PosixRlimit> {
    let invalid = |why: &str| EngineError::Other(format!("invalid --ulimit {spec:?}: {why}"));
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| invalid("use NAME=SOFT[:HARD]"))?;
    let typ = match name {
        "core" => PosixRlimitType::RlimitCore,
        "cpu" => PosixRlimitType::RlimitCpu,
        "data" => PosixRlimitType::RlimitData,
        "fsize" => PosixRlimitType::RlimitFsize,
        "locks" => PosixRlimitType::RlimitLocks,
        "memlock" => PosixRlimitType::RlimitMemlock,
        "msgqueue" => PosixRlimitType::RlimitMsgqueue,
        "nice" => PosixRlimitType::RlimitNice,
        "nofile" => PosixRlimitType::RlimitNofile,
        "nproc" => PosixRlimitType::RlimitNproc,
        "rss" => PosixRlimitType::RlimitRss,
        "rtprio" => PosixRlimitType::RlimitRtprio,
        "rttime" => PosixRlimitType::RlimitRttime,
        "sigpending" => PosixRlimitType::RlimitSigpending,
        "stack" => PosixRlimitType::RlimitStack,
        "as" => PosixRlimitType::RlimitAs,
        _ => return Err(invalid("unknown limit name")),
    };
    let number = |v: &str| -> Result<u64> {
        match v {
            "-1" | "unlimited" => Ok(u64::MAX),
            _ => v.parse().map_err(|_| invalid("not a number")),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (number(s)?, number(h)?),
        None => (number(values)?, number(values)?),
    };
    if soft > hard {
        return Err(invalid("the soft limit is above the hard limit"));
    }
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(|e| invalid(&e.to_string()))
}

/// `--memory`, `--pids-limit` and `--cpus` as OCI resources.
fn resources(config: &RunConfig) -> Result<Option<LinuxResources>> {
    if config.memory.is_none() && config.pids_limit.is_none() && config.cpus.is_none() {
        return Ok(None);
    }
    let mut resources = LinuxResources::default();
    if let Some(memory) = &config.memory {
        let limit = LinuxMemoryBuilder::default()
            .limit(parse_bytes(memory)? as i64)
            .build()
            .map_err(|e| EngineError::Other(format!("--memory: {e}")))?;
        resources.set_memory(Some(limit));
    }
    if let Some(pids) = config.pids_limit {
        let limit = LinuxPidsBuilder::default()
            .limit(pids)
            .build()
            .map_err(|e| EngineError::Other(format!("--pids-limit: {e}")))?;
        resources.set_pids(Some(limit));
    }
    if let Some(cpus) = &config.cpus {
        let cpus: f64 = cpus
            .parse()
            .ok()
            .filter(|c: &f64| *c > 0.0)
            .ok_or_else(|| EngineError::Other(format!("invalid --cpus {cpus:?}")))?;
        let cpu = LinuxCpuBuilder::default()
            .period(100_000u64)
            .quota((cpus * 100_000.0) as i64)
            .build()
            .map_err(|e| EngineError::Other(format!("--cpus: {e}")))?;
        resources.set_cpu(Some(cpu));
    }
    Ok(Some(resources))
}

/// `512m`, `1g`, `100k`, `1024` (bytes), as Docker reads them.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let invalid = || EngineError::Other(format!("invalid size {text:?}: use e.g. 512m or 1g"));
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches('b');
    let (digits, unit) = match lower
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
    {
        Some((i, _)) => lower.split_at(i),
        None => (lower, ""),
    };
    let value: f64 = digits.parse().map_err(|_| invalid())?;
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(invalid()),
    };
    Ok((value * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ulimits_parse_like_dockers() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("100kb").unwrap(), 100 << 10);
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert!(parse_bytes("lots").is_err());
        let limit = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((limit.soft(), limit.hard()), (1024, 2048));
        assert!(parse_ulimit("nofile=2048:1024").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
    }

    #[test]
    fn the_default_profile_compiles() {
        let profile = default_seccomp().unwrap();
        burrow_runtime::seccomp::compile(&profile).unwrap();
    }
}
