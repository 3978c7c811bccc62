//! fuse-overlayfs's command line, so burrow's overlay drops in where it is expected
//! (containers/storage's `mount_program`, `mount -t fuse.burrow-overlay`, overlay test
//! suites):
//!
//! ```text
//! burrow-overlay [-f] [-d] -o lowerdir=A:B,upperdir=U,workdir=W[,OPT...] MOUNTPOINT
//! burrow-overlay SOURCE MOUNTPOINT -o OPTIONS          (as mount.fuse passes it)
//! ```
//!
//! `lowerdir` lists layers top first, `:` separated (`\:` and `\\` escape). Options
//! that only tune fuse-overlayfs (fsync, noacl, threaded, fast_ino, static_nlink,
//! volatile, redirect_dir, ...) and the generic mount flags are accepted and ignored;
//! `timeout=SECONDS` sets the lower-layer cache time, `threads=N`, `writeback=0|1` and
//! `io_uring=0|1` (serve through the kernel's io_uring queues where it offers them;
//! on by default) and `prefetch=0|1` (read directories ahead of walks; on by default)
//! are burrow's own. `uidmapping=DISK:SHOWN:COUNT[:...]`, `gidmapping=` and
//! `squash_to_root`, `squash_to_uid=`, `squash_to_gid=` mean what they mean to
//! fuse-overlayfs (see [`crate::idmap`]).

use std::path::PathBuf;
use std::time::Duration;

use super::OverlayConfig;
use crate::idmap::IdMapping;

/// A parsed command line.
#[derive(Clone, Debug)]
pub struct CommandLine {
    pub config: OverlayConfig,
    pub mountpoint: PathBuf,
    pub foreground: bool,
    pub debug: bool,
}

const IGNORED: &[&str] = &[
    "fsync",
    "noacl",
    "threaded",
    "fast_ino",
    "static_nlink",
    "volatile",
    "redirect_dir",
    "index",
    "metacopy",
    "xino",
    "userxattr",
    "default_permissions",
    "allow_root",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "rw",
    "atime",
    "noatime",
    "relatime",
    "auto_unmount",
    "context",
    "fscontext",
    "defcontext",
    "rootcontext",
    "plugins",
    "xattr_permissions",
    "ino32_t",
    "debug",
];

/// Parses the arguments after argv0.
pub fn parse(args: &[String]) -> Result<CommandLine, String> {
    let mut options: Vec<String> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut foreground = false;
    let mut debug = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-f" => foreground = true,
            "-d" => {
                debug = true;
                foreground = true;
            }
            "-o" => options.push(iter.next().ok_or("-o needs a value")?.clone()),
            "-s" => {}
            "-h" | "--help" => return Err(usage()),
            other if other.starts_with("-o") => options.push(other[2..].to_string()),
            other if other.starts_with('-') => return Err(format!("unknown flag {other}")),
            other => positional.push(other.to_string()),
        }
    }
    let mountpoint = match positional.len() {
        1 => positional.remove(0),
        2 => positional.remove(1), // SOURCE MOUNTPOINT
        0 => return Err(format!("no mountpoint given\n{}", usage())),
        _ => return Err(format!("too many arguments: {positional:?}")),
    };
    let mut config = OverlayConfig::default();
    for group in &options {
        for option in split_options(group) {
            apply(&mut config, &option)?;
        }
    }
    if config.lowers.is_empty() && config.upper.is_none() {
        return Err("lowerdir= is required".into());
    }
    if config.upper.is_some() && config.work.is_none() {
        return Err("upperdir= needs workdir=".into());
    }
    Ok(CommandLine {
        config,
        mountpoint: PathBuf::from(mountpoint),
        foreground,
        debug,
    })
}

pub fn usage() -> String {
    "usage: burrow-overlay [-f] -o lowerdir=A:B[,upperdir=U,workdir=W][,OPTS] MOUNTPOINT\n       \
     burrow-overlay SOURCE MOUNTPOINT -o OPTS"
        .into()
}

/// Splits on commas not escaped with a backslash.
fn split_options(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ',' => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.retain(|o| !o.is_empty());
    out
}

/// Splits `lowerdir` on unescaped colons and removes the escapes.
fn split_lowers(text: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ':' => out.push(PathBuf::from(std::mem::take(&mut current))),
            c => current.push(c),
        }
    }
    out.push(PathBuf::from(current));
    out.retain(|p| !p.as_os_str().is_empty());
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_mapping(key: &str, value: &str) -> Result<IdMapping, String> {
    IdMapping::parse(value).map_err(|e| format!("{key}: {e}"))
}

fn parse_id(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("{key}={value} is not an id"))
}

fn apply(config: &mut OverlayConfig, option: &str) -> Result<(), String> {
    let (key, value) = match option.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (option, None),
    };
    let need = |what: &str| value.ok_or_else(|| format!("{what}= needs a value"));
    match key {
        "lowerdir" => config.lowers = split_lowers(need(key)?),
        "upperdir" => config.upper = Some(PathBuf::from(unescape(need(key)?))),
        "workdir" => config.work = Some(PathBuf::from(unescape(need(key)?))),
        "timeout" => {
            let seconds: f64 = need(key)?
                .parse()
                .map_err(|_| format!("timeout={} is not a number", need(key).unwrap_or("")))?;
            config.lower_ttl = Duration::from_secs_f64(seconds.max(0.0));
        }
        "threads" => {
            config.threads = need(key)?
                .parse()
                .map_err(|_| "threads= takes a number".to_string())?
        }
        "writeback" => config.writeback_cache = need(key)? != "0",
        "io_uring" => config.io_uring = need(key)? != "0",
        "prefetch" => config.prefetch = need(key)? != "0",
        "allow_other" => config.allow_other = Some(true),
        "fsname" | "source" => config.fsname = need(key)?.to_string(),
        "ro" => {}
        "uidmapping" => config.ids.uid = parse_mapping(key, need(key)?)?,
        "gidmapping" => config.ids.gid = parse_mapping(key, need(key)?)?,
        "squash_to_root" => {
            // squash_to_uid/gid win over it, whatever the order.
            config.ids.squash_uid.get_or_insert(0);
            config.ids.squash_gid.get_or_insert(0);
        }
        "squash_to_uid" => config.ids.squash_uid = Some(parse_id(key, need(key)?)?),
        "squash_to_gid" => config.ids.squash_gid = Some(parse_id(key, need(key)?)?),
        _ if IGNORED.contains(&key) || key.starts_with("x-") || key == "subtype" => {}
        _ => return Err(format!("unknown option {option:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fuse_overlayfs_form() {
        let cl = parse(&args(&[
            "-f",
            "-o",
            "lowerdir=/l/a:/l/b,upperdir=/u,workdir=/w,fsync=0",
            "/mnt",
        ]))
        .unwrap();
        assert!(cl.foreground);
        assert_eq!(cl.mountpoint, PathBuf::from("/mnt"));
        assert_eq!(
            cl.config.lowers,
            vec![PathBuf::from("/l/a"), PathBuf::from("/l/b")]
        );
        assert_eq!(cl.config.upper, Some(PathBuf::from("/u")));
        assert_eq!(cl.config.work, Some(PathBuf::from("/w")));
    }

    #[test]
    fn mount_fuse_form_and_escapes() {
        let cl = parse(&args(&[
            "overlay",
            "/mnt",
            "-o",
            "rw,lowerdir=/a\\:b:/c,upperdir=/u\\,x,workdir=/w,nodev,timeout=5",
        ]))
        .unwrap();
        assert!(!cl.foreground);
        assert_eq!(cl.mountpoint, PathBuf::from("/mnt"));
        assert_eq!(
            cl.config.lowers,
            vec![PathBuf::from("/a:b"), PathBuf::from("/c")]
        );
        assert_eq!(cl.config.upper, Some(PathBuf::from("/u,x")));
        assert_eq!(cl.config.lower_ttl, Duration::from_secs(5));
        assert!(cl.config.io_uring);
        let cl = parse(&args(&["-o", "lowerdir=/a,io_uring=0", "/mnt"])).unwrap();
        assert!(!cl.config.io_uring);
    }

    #[test]
    fn bad_command_lines_say_why() {
        for (line, expect) in [
            (vec!["/mnt"], "lowerdir"),
            (vec!["-o", "lowerdir=/a,upperdir=/u", "/mnt"], "workdir"),
            (
                vec!["-o", "lowerdir=/a,uidmapping=0:1", "/mnt"],
                "uidmapping",
            ),
            (
                vec!["-o", "lowerdir=/a,squash_to_uid=x", "/mnt"],
                "squash_to_uid",
            ),
            (vec!["-o", "lowerdir=/a,bogus", "/mnt"], "bogus"),
            (vec!["-o", "lowerdir=/a"], "mountpoint"),
        ] {
            let error = parse(&args(&line)).unwrap_err();
            assert!(error.contains(expect), "{line:?}: {error}");
        }
    }

    #[test]
    fn id_options_build_the_shift() {
        let cl = parse(&args(&[
            "-o",
            "lowerdir=/a,uidmapping=0:1000:1:1:100000:65536,gidmapping=0:100:1",
            "/mnt",
        ]))
        .unwrap();
        assert_eq!(cl.config.ids.uid.shown(0), 1000);
        assert_eq!(cl.config.ids.uid.shown(2), 100001);
        assert_eq!(cl.config.ids.gid.shown(0), 100);
        assert_eq!(cl.config.ids.squash_uid, None);
        let cl = parse(&args(&[
            "-o",
            "lowerdir=/a,squash_to_uid=7,squash_to_root",
            "/mnt",
        ]))
        .unwrap();
        assert_eq!(cl.config.ids.squash_uid, Some(7));
        assert_eq!(cl.config.ids.squash_gid, Some(0));
    }
}
