//! Which namespaces to create and which to join.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Context, Result};

pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The namespaces of a config, split into ones to join and ones to create.
pub struct NamespacePlan {
    /// Opened before any `setns`, user namespace first.
    pub join: Vec<(LinuxNamespaceType, PathBuf, File)>,
    pub create: CloneFlags,
}

impl NamespacePlan {
    pub fn from_spec(spec: &Spec) -> Result<NamespacePlan> {
        let mut join = Vec::new();
        let mut create = CloneFlags::empty();
        for ns in crate::spec::namespaces(spec) {
            match ns.path() {
                Some(path) => {
                    let file = File::open(path).context(|| {
                        format!("cannot open {} namespace {}", ns.typ(), path.display())
                    })?;
                    join.push((ns.typ(), path.clone(), file));
                }
                None => create |= clone_flag(ns.typ()),
            }
        }
        join.sort_by_key(|(typ, _, _)| *typ != LinuxNamespaceType::User);
        Ok(NamespacePlan { join, create })
    }

    /// Joins the existing namespaces, then creates the new ones (in the
    /// calling process; a new pid namespace applies to its next child).
    pub fn enter(&self) -> Result<()> {
        for (typ, path, file) in &self.join {
            setns(file.as_fd(), clone_flag(*typ))
                .context(|| format!("cannot join {} namespace {}", typ, path.display()))?;
        }
        if !self.create.is_empty() {
            unshare(self.create).context(|| describe_unshare_failure(self.create))?;
        }
        Ok(())
    }

    pub fn creates(&self, typ: LinuxNamespaceType) -> bool {
        self.create.contains(clone_flag(typ))
    }
}

fn describe_unshare_failure(flags: CloneFlags) -> String {
    if !flags.contains(CloneFlags::CLONE_NEWUSER) && !nix::unistd::geteuid().is_root() {
        return "cannot create namespaces: an unprivileged user needs a user namespace \
                (add {\"type\": \"user\"} to linux.namespaces, or use `burrow oci spec --rootless`)"
            .into();
    }
    "cannot create namespaces (are unprivileged user namespaces enabled? \
     see /proc/sys/user/max_user_namespaces)"
        .into()
}
