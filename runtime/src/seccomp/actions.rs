//! OCI actions and filter flags translated to the kernel's `SECCOMP_RET_*` and
//! `SECCOMP_FILTER_FLAG_*` values, with runc's defaults for the errno data.

use std::fmt;

use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompFilterFlag};

use super::SeccompError;

/// What the filter returns for a syscall made through an ABI it does not cover. runc leaves this at libseccomp's default, `SCMP_ACT_KILL` (kill the thread);
/// burrow kills the whole process so a half-dead process is never left behind.
pub(crate) const BAD_ARCH_RETURN: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// Errno used by `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` without `errnoRet` (as runc does).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// Which part of the profile an action came from, for error messages.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin<'p> {
    DefaultAction,
    Rule(&'p [String]),
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DefaultAction => f.write_str("defaultAction"),
            Self::Rule(names) => write!(f, "the rule for {}", rule_names(names)),
        }
    }
}

/// The names of a rule for messages, shortened: allow lists name hundreds of syscalls.
pub(crate) fn rule_names(names: &[String]) -> String {
    const SHOWN: usize = 3;
    match names.len() {
        0 => "no syscall".to_string(),
        count if count <= SHOWN => names.join(", "),
        count => format!("{} and {} more", names[..SHOWN].join(", "), count - SHOWN),
    }
}

/// The `SECCOMP_RET_*` value (action | 16-bit data) a filter returns for `action`.
///
/// `errno_ret` is the data of `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` (EPERM when absent)
/// and is ignored for the other actions, as runc ignores it.
pub(crate) fn return_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    origin: Origin<'_>,
) -> Result<u32, SeccompError> {
    let data = || -> Result<u32, SeccompError> {
        let value = errno_ret.unwrap_or(DEFAULT_ERRNO);
        if value > libc::SECCOMP_RET_DATA {
            return Err(SeccompError::ReturnDataOutOfRange {
                origin: origin.to_string(),
                value,
            });
        }
        Ok(value)
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            libc::SECCOMP_RET_KILL_THREAD
        }
        LinuxSeccompAction::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data()?,
        LinuxSeccompAction::ScmpActTrace => libc::SECCOMP_RET_TRACE | data()?,
        LinuxSeccompAction::ScmpActLog => libc::SECCOMP_RET_LOG,
        LinuxSeccompAction::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Unsupported(format!(
                "SCMP_ACT_NOTIFY in {origin} is not supported yet (burrow has no seccomp listener)"
            )))
        }
    })
}

/// The `flags` argument of `seccomp(SECCOMP_SET_MODE_FILTER, …)`.
///
/// Flag names outside the runtime spec are rejected earlier, when oci-spec parses the
/// profile (`unknown variant …`), so every value reaching this point is known.
pub(crate) fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> libc::c_ulong {
    flags
        .iter()
        .map(|flag| match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
        })
        .fold(0, |all, flag| all | flag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinuxSeccompAction::*;

    fn value(action: LinuxSeccompAction, errno_ret: Option<u32>) -> u32 {
        return_value(action, errno_ret, Origin::DefaultAction).expect("valid action")
    }

    #[test]
    fn every_action() {
        assert_eq!(value(ScmpActKill, None), 0);
        assert_eq!(value(ScmpActKillThread, Some(3)), 0);
        assert_eq!(value(ScmpActKillProcess, None), 0x8000_0000);
        assert_eq!(value(ScmpActTrap, None), 0x0003_0000);
        assert_eq!(value(ScmpActErrno, None), 0x0005_0001);
        assert_eq!(value(ScmpActErrno, Some(38)), 0x0005_0026);
        assert_eq!(value(ScmpActTrace, None), 0x7ff0_0001);
        assert_eq!(value(ScmpActTrace, Some(5)), 0x7ff0_0005);
        assert_eq!(value(ScmpActLog, Some(5)), 0x7ffc_0000);
        assert_eq!(value(ScmpActAllow, None), 0x7fff_0000);
    }

    #[test]
    fn errno_must_fit_sixteen_bits() {
        assert_eq!(value(ScmpActErrno, Some(0xffff)), 0x0005_ffff);
        let names = ["mkdir".to_string()];
        let error = return_value(ScmpActErrno, Some(0x1_0000), Origin::Rule(&names))
            .expect_err("too large");
        assert_eq!(
            error.to_string(),
            "seccomp errnoRet 65536 in the rule for mkdir does not fit the 16-bit \
             SECCOMP_RET_DATA field"
        );
    }

    #[test]
    fn long_rules_are_shortened_in_messages() {
        let names: Vec<String> = ["read", "write", "open", "close", "stat"]
            .map(String::from)
            .to_vec();
        assert_eq!(rule_names(&names[..2]), "read, write");
        assert_eq!(rule_names(&names), "read, write, open and 2 more");
    }

    #[test]
    fn notify_is_unsupported() {
        let error = return_value(ScmpActNotify, None, Origin::DefaultAction).expect_err("notify");
        assert!(matches!(error, SeccompError::Unsupported(_)));
        assert!(error
            .to_string()
            .contains("SCMP_ACT_NOTIFY in defaultAction"));
    }

    #[test]
    fn flags() {
        use LinuxSeccompFilterFlag::*;
        assert_eq!(filter_flags(&[]), 0);
        let all = [
            SeccompFilterFlagTsync,
            SeccompFilterFlagLog,
            SeccompFilterFlagSpecAllow,
        ];
        assert_eq!(filter_flags(&all), 0b111);
    }
}
