//! The unprivileged user the end-to-end tests run burrow as.
//!
//! As root (CI) that is `BURROW_TEST_USER` (default `burrow-test`), which `.ci/run` creates
//! with `/etc/subuid` and `/etc/subgid` ranges; as anyone else it is the current user. The
//! subordinate ranges are read from the files directly (first line naming the user by name
//! or uid), which is what `newuidmap` checks too.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Default name of the test user that `.ci/run` creates.
pub const DEFAULT_TEST_USER: &str = "burrow-test";

/// One `/etc/subuid` or `/etc/subgid` range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubIdRange {
    pub start: u32,
    pub count: u32,
}

/// The user burrow runs as in the tests.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// True when the test process is root and every command drops to this user.
    pub drop_privileges: bool,
}

impl TestUser {
    /// The test user for this process, resolved once. Panics with a one-line hint when the
    /// test process is root and the user does not exist.
    pub fn get() -> &'static TestUser {
        static USER: OnceLock<Result<TestUser, String>> = OnceLock::new();
        match USER.get_or_init(resolve) {
            Ok(user) => user,
            Err(message) => panic!("{message}"),
        }
    }

    /// The user's first `/etc/subuid` range; panics naming the file when there is none.
    pub fn subuid(&self) -> SubIdRange {
        self.subid_range(Path::new("/etc/subuid"))
    }

    /// The user's first `/etc/subgid` range; panics naming the file when there is none.
    pub fn subgid(&self) -> SubIdRange {
        self.subid_range(Path::new("/etc/subgid"))
    }

    fn subid_range(&self, file: &Path) -> SubIdRange {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        find_subid_range(&text, &self.name, self.uid).unwrap_or_else(|| {
            panic!(
                "no range for {} in {} (run .ci/run as root to create one)",
                self.name,
                file.display()
            )
        })
    }
}

/// True when the test process runs with effective uid 0.
pub fn running_as_root() -> bool {
    effective_uid() == 0
}

/// The effective uid of the test process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn resolve() -> Result<TestUser, String> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| format!("cannot read /etc/passwd: {e}"))?;
    if running_as_root() {
        let name =
            std::env::var("BURROW_TEST_USER").unwrap_or_else(|_| DEFAULT_TEST_USER.to_string());
        let entry = find_passwd_entry(&passwd, |entry| entry.name == name).ok_or_else(|| {
            format!("test user {name:?} does not exist: run .ci/run as root to create it")
        })?;
        if entry.uid == 0 {
            return Err(format!(
                "test user {name:?} is root; it must be unprivileged"
            ));
        }
        return Ok(TestUser {
            drop_privileges: true,
            ..entry
        });
    }
    let uid = effective_uid();
    let entry = find_passwd_entry(&passwd, |entry| entry.uid == uid);
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .or_else(|| entry.as_ref().map(|e| e.home.clone()))
        .unwrap_or_else(|| PathBuf::from("/"));
    // SAFETY: getegid has no preconditions and cannot fail.
    let gid = unsafe { libc::getegid() };
    let name = entry
        .map(|e| e.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| uid.to_string());
    Ok(TestUser {
        name,
        uid,
        gid,
        home,
        drop_privileges: false,
    })
}

fn find_passwd_entry(passwd: &str, wanted: impl Fn(&TestUser) -> bool) -> Option<TestUser> {
    passwd
        .lines()
        .filter_map(parse_passwd_line)
        .find(|entry| wanted(entry))
}

fn parse_passwd_line(line: &str) -> Option<TestUser> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 7 {
        return None;
    }
    Some(TestUser {
        name: fields[0].to_string(),
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        home: PathBuf::from(fields[5]),
        drop_privileges: false,
    })
}

/// The first range in a subuid/subgid file naming `name` or `uid`.
pub fn find_subid_range(text: &str, name: &str, uid: u32) -> Option<SubIdRange> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        if owner != name && owner.parse::<u32>().ok() != Some(uid) {
            return None;
        }
        let start = fields.next()?.parse().ok()?;
        let count = fields.next()?.parse().ok()?;
        Some(SubIdRange { start, count })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_range_by_name_or_uid_first_match_wins() {
        let text = "other:1:2\nburrow-test:100000:65536\nburrow-test:300000:65536\n";
        assert_eq!(
            find_subid_range(text, "burrow-test", 1001),
            Some(SubIdRange {
                start: 100000,
                count: 65536
            })
        );
        assert_eq!(
            find_subid_range("1001:5:6\n", "burrow-test", 1001),
            Some(SubIdRange { start: 5, count: 6 })
        );
        assert_eq!(find_subid_range("bad line\nx:1\n", "x", 1), None);
    }

    #[test]
    fn passwd_lines_parse() {
        let user = parse_passwd_line("burrow-test:x:1001:1002::/home/burrow-test:/bin/bash")
            .expect("valid line");
        assert_eq!((user.uid, user.gid), (1001, 1002));
        assert_eq!(user.home, PathBuf::from("/home/burrow-test"));
        assert!(parse_passwd_line("short:x:1").is_none());
    }
}
