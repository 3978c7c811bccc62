//! Architectures: which syscall ABIs a filter covers on this host, how each one is
//! recognised in `seccomp_data.arch`, and how syscall names map to numbers per ABI.
//!
//! Numbers come from the `syscalls` crate. Two tables it lacks are kept here, both taken
//! from the kernel's syscall tables (and agreeing with libseccomp's `syscalls.csv`):
//! the x32 entries that differ from x86_64, and the ARM-private calls (`set_tls`, …).

use std::str::FromStr;

use oci_spec::runtime::Arch;

use super::SeccompError;

/// `AUDIT_ARCH_*` values (`<linux/audit.h>`): ELF machine | 64-bit flag | little-endian flag.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// x32 syscalls are x86_64 syscalls (same `AUDIT_ARCH`) with this bit set in the number.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The machine this program runs on, which decides the native and compat ABIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    X86_64,
    Aarch64,
}

impl Host {
    pub(crate) fn current() -> Result<Self, SeccompError> {
        if cfg!(target_arch = "x86_64") {
            Ok(Self::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Ok(Self::Aarch64)
        } else {
            Err(SeccompError::Unsupported(format!(
                "generating filters on a {} host is not supported",
                std::env::consts::ARCH
            )))
        }
    }

    fn native(self) -> Abi {
        match self {
            Self::X86_64 => Abi::X86_64,
            Self::Aarch64 => Abi::Aarch64,
        }
    }

    /// The ABI an `architectures` entry stands for on this host, or `None` for an
    /// architecture this host's kernel cannot run (its syscalls never reach the filter).
    fn abi_for(self, arch: Arch) -> Option<Abi> {
        match (self, arch) {
            (_, Arch::ScmpArchNative) => Some(self.native()),
            (Self::X86_64, Arch::ScmpArchX86_64) => Some(Abi::X86_64),
            (Self::X86_64, Arch::ScmpArchX86) => Some(Abi::X86),
            (Self::X86_64, Arch::ScmpArchX32) => Some(Abi::X32),
            (Self::Aarch64, Arch::ScmpArchAarch64) => Some(Abi::Aarch64),
            (Self::Aarch64, Arch::ScmpArchArm) => Some(Abi::Arm),
            _ => None,
        }
    }
}

/// A syscall ABI the filter has rules for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abi {
    X86_64,
    X32,
    X86,
    Aarch64,
    Arm,
}

impl Abi {
    /// The value the kernel puts in `seccomp_data.arch` for this ABI.
    pub(crate) fn audit_arch(self) -> u32 {
        match self {
            Self::X86_64 | Self::X32 => AUDIT_ARCH_X86_64,
            Self::X86 => AUDIT_ARCH_I386,
            Self::Aarch64 => AUDIT_ARCH_AARCH64,
            Self::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// Whether argument comparisons include the upper 32 bits. libseccomp treats x86, x32
    /// and arm as 32-bit ABIs and compares only the low word of each argument.
    pub(crate) fn has_64bit_args(self) -> bool {
        matches!(self, Self::X86_64 | Self::Aarch64)
    }

    /// The syscall number of `name` in this ABI, or `None` if the ABI has no such call.
    pub(crate) fn syscall_number(self, name: &str) -> Option<u32> {
        match self {
            Self::X86_64 => lookup::<syscalls::x86_64::Sysno>(name),
            Self::X32 => x32_syscall_number(name),
            Self::X86 => lookup::<syscalls::x86::Sysno>(name),
            Self::Aarch64 => lookup::<syscalls::aarch64::Sysno>(name),
            Self::Arm => lookup::<syscalls::arm::Sysno>(name).or_else(|| arm_private(name)),
        }
    }
}

/// Something the `syscalls` crate generates per architecture.
trait SyscallTable: FromStr {
    fn number(&self) -> i32;
}

macro_rules! syscall_table {
    ($($sysno:ty),*) => {$(
        impl SyscallTable for $sysno {
            fn number(&self) -> i32 {
                self.id()
            }
        }
    )*};
}

syscall_table!(
    syscalls::x86_64::Sysno,
    syscalls::x86::Sysno,
    syscalls::aarch64::Sysno,
    syscalls::arm::Sysno
);

fn lookup<T: SyscallTable>(name: &str) -> Option<u32> {
    let sysno = T::from_str(name).ok()?;
    u32::try_from(sysno.number()).ok()
}

/// x86_64 calls whose x32 entry point has its own number (the kernel's `x32`
/// entries 512–547: they take 32-bit pointers and structures).
const X32_OWN_NUMBERS: &[(&str, u32)] = &[
    ("rt_sigaction", 512),
    ("rt_sigreturn", 513),
    ("ioctl", 514),
    ("readv", 515),
    ("writev", 516),
    ("recvfrom", 517),
    ("sendmsg", 518),
    ("recvmsg", 519),
    ("execve", 520),
    ("ptrace", 521),
    ("rt_sigpending", 522),
    ("rt_sigtimedwait", 523),
    ("rt_sigqueueinfo", 524),
    ("sigaltstack", 525),
    ("timer_create", 526),
    ("mq_notify", 527),
    ("kexec_load", 528),
    ("waitid", 529),
    ("set_robust_list", 530),
    ("get_robust_list", 531),
    ("vmsplice", 532),
    ("move_pages", 533),
    ("preadv", 534),
    ("pwritev", 535),
    ("rt_tgsigqueueinfo", 536),
    ("recvmmsg", 537),
    ("sendmmsg", 538),
    ("process_vm_readv", 539),
    ("process_vm_writev", 540),
    ("setsockopt", 541),
    ("getsockopt", 542),
    ("io_setup", 543),
    ("io_submit", 544),
    ("execveat", 545),
    ("preadv2", 546),
    ("pwritev2", 547),
];

/// x86_64-only calls with no x32 entry point at all.
const X32_MISSING: &[&str] = &[
    "create_module",
    "epoll_ctl_old",
    "epoll_wait_old",
    "get_kernel_syms",
    "get_thread_area",
    "nfsservctl",
    "query_module",
    "set_thread_area",
    "_sysctl",
    "uselib",
    "vserver",
];

fn x32_syscall_number(name: &str) -> Option<u32> {
    if X32_MISSING.contains(&name) {
        return None;
    }
    let base = X32_OWN_NUMBERS
        .iter()
        .find(|(own, _)| *own == name)
        .map(|(_, number)| *number)
        .or_else(|| lookup::<syscalls::x86_64::Sysno>(name))?;
    Some(base | X32_SYSCALL_BIT)
}

/// ARM-private syscalls (`__ARM_NR_BASE` = 0x0f0000), absent from the generic tables.
fn arm_private(name: &str) -> Option<u32> {
    const ARM_NR_BASE: u32 = 0x000f_0000;
    let offset = match name {
        "breakpoint" => 1,
        "cacheflush" => 2,
        "usr26" => 3,
        "usr32" => 4,
        "set_tls" => 5,
        "get_tls" => 6,
        _ => return None,
    };
    Some(ARM_NR_BASE + offset)
}

/// The ABIs a filter covers: the native one first, then each compat ABI from
/// `architectures` that this host can run, without duplicates. Entries for other
/// machines are ignored; an empty or missing list means the native ABI only.
pub(crate) fn selected_abis(host: Host, architectures: Option<&[Arch]>) -> Vec<Abi> {
    let mut abis = vec![host.native()];
    let listed = architectures.unwrap_or_default().iter();
    for abi in listed.filter_map(|arch| host.abi_for(*arch)) {
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }
    abis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_per_abi() {
        assert_eq!(Abi::X86_64.syscall_number("getcwd"), Some(79));
        assert_eq!(Abi::X86.syscall_number("getcwd"), Some(183));
        assert_eq!(Abi::Aarch64.syscall_number("getcwd"), Some(17));
        assert_eq!(Abi::Arm.syscall_number("getcwd"), Some(183));
        assert_eq!(
            Abi::X32.syscall_number("getcwd"),
            Some(79 | X32_SYSCALL_BIT)
        );
        assert_eq!(Abi::Aarch64.syscall_number("mkdir"), None);
        assert_eq!(Abi::X86_64.syscall_number("not_a_syscall"), None);
    }

    #[test]
    fn x32_quirks() {
        assert_eq!(Abi::X86_64.syscall_number("rt_sigaction"), Some(13));
        assert_eq!(
            Abi::X32.syscall_number("rt_sigaction"),
            Some(512 | X32_SYSCALL_BIT)
        );
        assert_eq!(Abi::X32.syscall_number("uselib"), None);
        // Every x32-specific name must exist on x86_64, or the table has a typo.
        for (name, _) in X32_OWN_NUMBERS {
            assert!(Abi::X86_64.syscall_number(name).is_some(), "{name}");
        }
    }

    #[test]
    fn arm_private_calls() {
        assert_eq!(Abi::Arm.syscall_number("set_tls"), Some(0x000f_0005));
        assert_eq!(Abi::Aarch64.syscall_number("set_tls"), None);
    }

    #[test]
    fn abi_selection() {
        let x86_host = |list: &[Arch]| selected_abis(Host::X86_64, Some(list));
        assert_eq!(selected_abis(Host::X86_64, None), [Abi::X86_64]);
        assert_eq!(x86_host(&[]), [Abi::X86_64]);
        assert_eq!(
            x86_host(&[Arch::ScmpArchX86, Arch::ScmpArchX86_64, Arch::ScmpArchX32]),
            [Abi::X86_64, Abi::X86, Abi::X32]
        );
        assert_eq!(
            x86_host(&[Arch::ScmpArchS390x, Arch::ScmpArchArm, Arch::ScmpArchNative]),
            [Abi::X86_64]
        );
        assert_eq!(
            selected_abis(
                Host::Aarch64,
                Some(&[Arch::ScmpArchX86, Arch::ScmpArchArm, Arch::ScmpArchAarch64])
            ),
            [Abi::Aarch64, Abi::Arm]
        );
    }
}
