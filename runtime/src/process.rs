//! The container process's own settings: program lookup, environment, cwd,
//! rlimits, oom score, user, capabilities, no_new_privs and seccomp, applied
//! in the order the kernel's rules demand (bounding set and seccomp while we
//! still hold CAP_SETPCAP/CAP_SYS_ADMIN, keep-caps across the uid switch).

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::{CapSet, Capability as KernelCap};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimitType, Process};

use crate::error::{Context, Result, RuntimeError, EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND};
use crate::seccomp::SeccompProgram;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment for the process: the config's, with PATH and HOME filled in.
pub fn environment(process: &Process) -> Vec<String> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = home_of(process.user().uid()).unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

/// The home directory of `uid` in the container's /etc/passwd.
fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2].parse() == Ok(uid)).then(|| fields[5].to_string())
    })
}

/// Finds `program` as execvp would, in the container's filesystem.
pub fn find_executable(program: &str, env: &[String]) -> Result<PathBuf> {
    let not_found = || RuntimeError::Init {
        message: format!("exec: {program:?}: executable file not found in $PATH"),
        exit_code: EXIT_NOT_FOUND,
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return check_executable(&path).map(|_| path).map_err(|e| match e {
            CheckError::Missing => RuntimeError::Init {
                message: format!("exec: {program:?}: no such file or directory"),
                exit_code: EXIT_NOT_FOUND,
            },
            CheckError::NotExecutable => RuntimeError::Init {
                message: format!("exec: {program:?}: permission denied"),
                exit_code: EXIT_CANNOT_INVOKE,
            },
        });
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(not_found())
}

enum CheckError {
    Missing,
    NotExecutable,
}

fn check_executable(path: &Path) -> std::result::Result<(), CheckError> {
    let meta = std::fs::metadata(path).map_err(|_| CheckError::Missing)?;
    if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
        Ok(())
    } else {
        Err(CheckError::NotExecutable)
    }
}

/// Applies `process.rlimits`.
pub fn apply_rlimits(process: &Process) -> Result<()> {
    for limit in process.rlimits().as_deref().unwrap_or(&[]) {
        let resource = rlimit_resource(limit.typ());
        let value = libc::rlimit {
            rlim_cur: limit.soft(),
            rlim_max: limit.hard(),
        };
        // SAFETY: setrlimit reads a struct that lives on our stack for the call.
        let ret = unsafe { libc::setrlimit(resource, &value) };
        nix::errno::Errno::result(ret).context(|| {
            format!(
                "cannot set rlimit {:?} to {}/{}",
                limit.typ(),
                limit.soft(),
                limit.hard()
            )
        })?;
    }
    Ok(())
}

fn rlimit_resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Writes `process.oomScoreAdj`. Lowering the score needs a privilege a
/// rootless runtime lacks; the kernel's refusal is then reported.
pub fn apply_oom_score(process: &Process) -> Result<()> {
    if let Some(score) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .context(|| format!("cannot set oom_score_adj to {score}"))?;
    }
    Ok(())
}

/// Creates (if needed) and enters the working directory.
pub fn enter_cwd(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    if std::fs::metadata(cwd).is_err() {
        std::fs::create_dir_all(cwd).context(|| format!("cannot create cwd {}", cwd.display()))?;
    }
    nix::unistd::chdir(cwd).context(|| format!("cannot chdir to {}", cwd.display()))
}

/// Switches to the configured user and capability sets, installing `seccomp`
/// at the right moment; the next step is execve.
pub fn become_user(
    process: &Process,
    seccomp: Option<&SeccompProgram>,
    setgroups_allowed: bool,
) -> Result<()> {
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    if let (Some(filter), false) = (seccomp, no_new_privs) {
        // Without no_new_privs the kernel wants CAP_SYS_ADMIN, which we still hold.
        filter.install()?;
    }
    let caps = process.capabilities().as_ref();
    if let Some(caps) = caps {
        drop_bounding(caps)?;
    }
    nix::sys::prctl::set_keepcaps(true).context(|| "cannot set keep-caps".into())?;
    let user = process.user();
    let groups: Vec<Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    if setgroups_allowed || !groups.is_empty() {
        nix::unistd::setgroups(&groups)
            .context(|| format!("cannot set additional groups {groups:?}"))?;
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).context(|| format!("cannot set gid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).context(|| format!("cannot set uid {uid}"))?;
    nix::sys::prctl::set_keepcaps(false).context(|| "cannot clear keep-caps".into())?;
    if let Some(caps) = caps {
        set_capabilities(caps)?;
    }
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().context(|| "cannot set no_new_privs".into())?;
        if let Some(filter) = seccomp {
            filter.install()?;
        }
    }
    if let Some(mask) = user.umask() {
        crate::sys::set_umask(mask);
    }
    Ok(())
}

fn to_kernel_set(set: Option<&oci_spec::runtime::Capabilities>) -> HashSet<KernelCap> {
    let supported = caps::runtime::thread_all_supported();
    set.into_iter()
        .flatten()
        .filter_map(|c| KernelCap::from_str(&format!("CAP_{c}")).ok())
        .filter(|c| supported.contains(c))
        .collect()
}

fn drop_bounding(caps: &LinuxCapabilities) -> Result<()> {
    let keep = to_kernel_set(caps.bounding().as_ref());
    for cap in caps::runtime::thread_all_supported() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                RuntimeError::Other(format!("cannot drop {cap} from the bounding set: {e}"))
            })?;
        }
    }
    Ok(())
}

fn set_capabilities(caps: &LinuxCapabilities) -> Result<()> {
    let fail = |what: &str, e: caps::errors::CapsError| {
        RuntimeError::Other(format!("cannot set {what} capabilities: {e}"))
    };
    let permitted = to_kernel_set(caps.permitted().as_ref());
    let effective = to_kernel_set(caps.effective().as_ref());
    let inheritable = to_kernel_set(caps.inheritable().as_ref());
    let ambient = to_kernel_set(caps.ambient().as_ref());
    // Effective must stay within permitted while permitted shrinks.
    caps::set(
        None,
        CapSet::Effective,
        &effective.intersection(&permitted).copied().collect(),
    )
    .map_err(|e| fail("effective", e))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(|e| fail("permitted", e))?;
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(|e| fail("inheritable", e))?;
    caps::set(None, CapSet::Effective, &effective).map_err(|e| fail("effective", e))?;
    // As runc: an ambient capability needs to be permitted and inheritable;
    // one that is not is skipped rather than failing the container.
    for cap in ambient {
        let _ = caps::raise(None, CapSet::Ambient, cap);
    }
    Ok(())
}

/// `execve` with the container environment; returns only on failure.
pub fn exec(path: &Path, args: &[String], env: &[String]) -> RuntimeError {
    let to_c = |s: &str| CString::new(s.as_bytes()).unwrap_or_default();
    let c_path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap_or_default();
    let c_args: Vec<CString> = args.iter().map(|a| to_c(a)).collect();
    let c_env: Vec<CString> = env.iter().map(|e| to_c(e)).collect();
    let errno = match nix::unistd::execve(&c_path, &c_args, &c_env) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let exit_code = match errno {
        nix::errno::Errno::ENOENT => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_INVOKE,
    };
    RuntimeError::Init {
        message: format!("exec {}: {errno}", path.display()),
        exit_code,
    }
}
