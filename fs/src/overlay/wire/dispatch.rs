//! [`RingHandler`] for the overlay: decode a request (`request.rs`), run the same
//! operation of `ops.rs` the fuser transport runs, encode its result (`abi.rs`) into
//! the entry's payload area as the body of a /dev/fuse reply would be. READ data is
//! read straight into the payload area; directory entries are encoded in place as the
//! listing loop produces them.

use std::time::Duration;

use super::abi::{self, DIRENTPLUS_SIZE, DIRENT_SIZE};
use super::request::{decode, Op};
use crate::overlay::errno::{Errno, FsResult};
use crate::overlay::ops::{
    placeholder_attr, Caller, DirItem, DirReply, Entry, OverlayFs, Xattr, COPY_LIMIT_32,
};
use crate::overlay::uring::{ReplyFull, RingHandler, RingReply, RingRequest};

impl From<ReplyFull> for Errno {
    fn from(_: ReplyFull) -> Errno {
        // The payload area holds a whole max_write; a reply that does not fit is a
        // server bug, reported as an I/O error rather than a truncated answer.
        Errno::IO
    }
}

impl RingHandler for OverlayFs {
    fn handle(&self, request: &RingRequest<'_>, reply: &mut RingReply<'_>) {
        if let Err(e) = serve(self, request, reply) {
            reply.error(e.0);
        }
    }
}

/// Answers one request into `reply`; an error leaves the reply to the caller.
fn serve(fs: &OverlayFs, request: &RingRequest<'_>, reply: &mut RingReply<'_>) -> FsResult<()> {
    let header = &request.header;
    let ino = header.nodeid;
    let caller = Caller {
        uid: header.uid,
        gid: header.gid,
    };
    let op = decode(header, request.op_in, request.payload)?;
    match op {
        Op::Lookup { name } => push_entry(reply, &fs.lookup(ino, name)?),
        Op::GetAttr { fh } => {
            let got = fs.getattr(ino, fh)?;
            Ok(reply.push(&abi::attr_out(&got.attr, got.ttl))?)
        }
        Op::SetAttr(change) => {
            let got = fs.setattr(caller.uid, ino, &change)?;
            Ok(reply.push(&abi::attr_out(&got.attr, got.ttl))?)
        }
        Op::ReadLink => Ok(reply.push(&fs.core.readlink(ino)?)?),
        Op::Symlink { name, target } => push_entry(
            reply,
            &fs.core.symlink(ino, name, target, caller.uid, caller.gid)?,
        ),
        Op::Mknod { name, mode, rdev } => push_entry(
            reply,
            &fs.core
                .mknod(ino, name, mode, rdev, caller.uid, caller.gid)?,
        ),
        Op::Mkdir { name, mode } => push_entry(
            reply,
            &fs.core.mkdir(ino, name, mode, caller.uid, caller.gid)?,
        ),
        Op::Unlink { name } => fs.core.unlink(ino, name, false),
        Op::Rmdir { name } => fs.core.unlink(ino, name, true),
        Op::Rename {
            name,
            new_parent,
            new_name,
            flags,
        } => fs.core.rename(ino, name, new_parent, new_name, flags),
        Op::Link {
            ino: target,
            new_name,
        } => push_entry(reply, &fs.core.link(target, ino, new_name)?),
        Op::Open { flags } => Ok(reply.push(&abi::open_out(&fs.open(caller.uid, ino, flags)?))?),
        Op::Read { fh, offset, size } => {
            let spare = reply.spare();
            let room = spare.len().min(size as usize);
            let got = fs.read(fh, offset, &mut spare[..room])?;
            reply.advance(got);
            Ok(())
        }
        Op::Write {
            fh,
            offset,
            data,
            flags,
        } => {
            let written = fs.write(ino, fh, offset, data, flags)?;
            Ok(reply.push(&abi::size_out(written))?)
        }
        Op::StatFs => Ok(reply.push(&abi::statfs_out(&fs.statfs()?))?),
        Op::Release { fh } => {
            fs.release(fh);
            Ok(())
        }
        Op::Fsync { fh, datasync } => fs.fsync(fh, datasync),
        Op::SetXattr { name, value, flags } => fs.core.setxattr(ino, name, value, flags),
        Op::GetXattr { name, size } => push_xattr(reply, fs.getxattr(ino, name, size)?),
        Op::ListXattr { size } => push_xattr(reply, fs.listxattr(ino, size)?),
        Op::RemoveXattr { name } => fs.core.removexattr(ino, name),
        Op::Flush => fs.flush(),
        Op::OpenDir => Ok(reply.push(&abi::open_out(&fs.opendir(ino)?))?),
        Op::ReadDir {
            fh,
            offset,
            size,
            plus,
        } => {
            let room = reply.capacity().min(size as usize);
            if plus {
                fs.fill_dir(ino, fh, offset, &mut WireDir::<true> { reply, room })
            } else {
                fs.fill_dir(ino, fh, offset, &mut WireDir::<false> { reply, room })
            }
        }
        Op::ReleaseDir { fh } => {
            fs.releasedir(fh);
            Ok(())
        }
        Op::FsyncDir => fs.core.fsyncdir(ino),
        Op::Access => fs.access(),
        Op::Create { name, mode, flags } => {
            let (entry, opened) = fs.create(caller, ino, name, mode, flags)?;
            reply.push(&abi::entry_out(&entry))?;
            Ok(reply.push(&abi::open_out(&opened))?)
        }
        Op::Fallocate {
            fh,
            offset,
            length,
            mode,
        } => fs.fallocate(fh, offset, length, mode),
        Op::Lseek { fh, offset, whence } => {
            let at = fs.lseek(fh, offset, whence)?;
            Ok(reply.push(&abi::u64_out(at as u64))?)
        }
        Op::CopyFileRange {
            fh_in,
            offset_in,
            fh_out,
            offset_out,
            len,
            wide,
        } => {
            let len = if wide { len } else { len.min(COPY_LIMIT_32) };
            let copied = fs.copy_file_range((fh_in, offset_in), (fh_out, offset_out), len)?;
            if wide {
                Ok(reply.push(&abi::u64_out(copied))?)
            } else {
                Ok(reply.push(&abi::size_out(copied as u32))?)
            }
        }
        Op::Destroy => Ok(()),
        Op::Unsupported => Err(Errno::NOSYS),
    }
}

fn push_entry(reply: &mut RingReply<'_>, entry: &Entry) -> FsResult<()> {
    Ok(reply.push(&abi::entry_out(entry))?)
}

fn push_xattr(reply: &mut RingReply<'_>, answer: Xattr) -> FsResult<()> {
    match answer {
        Xattr::Size(size) => Ok(reply.push(&abi::size_out(size))?),
        Xattr::Data(value) => Ok(reply.push(&value)?),
    }
}

/// A READDIR (`PLUS` false) or READDIRPLUS reply encoded into a ring entry, with room
/// for `room` bytes (the kernel's buffer size, at most the payload area).
struct WireDir<'r, 'p, const PLUS: bool> {
    reply: &'r mut RingReply<'p>,
    room: usize,
}

impl<const PLUS: bool> WireDir<'_, '_, PLUS> {
    /// Appends one entry (header, name, padding to 8); false when it does not fit.
    fn append(&mut self, header: &[u8], name: &[u8]) -> bool {
        let size = abi::dirent_size(header.len(), name.len());
        if self.reply.len() + size > self.room {
            return false;
        }
        let padding = [0u8; 8];
        let pad = size - header.len() - name.len();
        self.reply.push(header).is_ok()
            && self.reply.push(name).is_ok()
            && self.reply.push(&padding[..pad]).is_ok()
    }
}

impl<const PLUS: bool> DirReply for WireDir<'_, '_, PLUS> {
    const PLUS: bool = PLUS;

    fn add(&mut self, item: &DirItem, found: Option<Entry>) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let name = item.name.as_bytes();
        let Ok(name_len) = u32::try_from(name.len()) else {
            return true;
        };
        if !PLUS {
            let dirent = abi::dirent(item.ino, item.next, name_len, abi::type_bits(item.kind));
            return !self.append(&dirent, name);
        }
        // `.` and `..` carry placeholder attributes, as fuser's reply does: the kernel
        // takes no entry from them (it skips those names).
        let entry =
            found.unwrap_or_else(|| (placeholder_attr(item.ino, item.kind), 0, Duration::ZERO));
        let attr = &entry.0;
        let mut header = [0u8; DIRENTPLUS_SIZE];
        header[..DIRENTPLUS_SIZE - DIRENT_SIZE].copy_from_slice(&abi::entry_out(&entry));
        header[DIRENTPLUS_SIZE - DIRENT_SIZE..].copy_from_slice(&abi::dirent(
            attr.ino.0,
            item.next,
            name_len,
            abi::type_bits(attr.kind),
        ));
        !self.append(&header, name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::{OsStr, OsString};
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::super::abi::opcode;
    use super::*;
    use crate::overlay::uring::InHeader;
    use crate::overlay::{Overlay, OverlayConfig};

    /// An overlay of one lower and one upper dir in a temp dir.
    struct Fixture {
        fs: Arc<OverlayFs>,
        upper: PathBuf,
        _tmp: tempfile::TempDir,
    }

    fn fixture(lower_files: &[(&str, &[u8])]) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = |name: &str| {
            let path = tmp.path().join(name);
            std::fs::create_dir(&path).unwrap();
            path
        };
        let (lower, upper, work) = (dir("l"), dir("u"), dir("w"));
        for (name, data) in lower_files {
            std::fs::write(lower.join(name), data).unwrap();
        }
        let config = OverlayConfig {
            lowers: vec![lower],
            upper: Some(upper.clone()),
            work: Some(work),
            ..OverlayConfig::default()
        };
        Fixture {
            fs: Overlay::new(config).unwrap().fs,
            upper,
            _tmp: tmp,
        }
    }

    /// What came back: the out header's error and the payload.
    #[derive(Debug)]
    struct Answer {
        error: i32,
        body: Vec<u8>,
    }

    impl Answer {
        fn ok(self) -> Vec<u8> {
            assert_eq!(self.error, 0, "request failed");
            self.body
        }
    }

    impl Fixture {
        /// Sends one request as a ring entry would hold it.
        fn call(&self, opcode: u32, nodeid: u64, op_in: &[u8], payload: &[u8]) -> Answer {
            let header = InHeader {
                opcode,
                nodeid,
                unique: 1,
                uid: self.fs.core.euid,
                gid: self.fs.core.egid,
                ..InHeader::default()
            };
            let mut area = [0u8; 128];
            area[..op_in.len()].copy_from_slice(op_in);
            let mut payload_area = vec![0u8; 1 << 20];
            let (error, len) = {
                let mut reply = RingReply::new(&mut payload_area);
                let request = RingRequest {
                    header,
                    op_in: &area,
                    payload,
                };
                self.fs.handle(&request, &mut reply);
                (reply.error_code(), reply.len())
            };
            payload_area.truncate(len);
            Answer {
                error,
                body: payload_area,
            }
        }
    }

    fn bytes(fields: &[u64]) -> Vec<u8> {
        fields.iter().flat_map(|f| f.to_ne_bytes()).collect()
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    fn u64_at(bytes: &[u8], at: usize) -> u64 {
        u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap())
    }

    fn cname(name: &str) -> Vec<u8> {
        let mut out = name.as_bytes().to_vec();
        out.push(0);
        out
    }

    /// Two u32 fields as one u64 (little-endian machines: low first).
    fn pair(low: u32, high: u32) -> u64 {
        u64::from_ne_bytes(
            [low.to_ne_bytes(), high.to_ne_bytes()]
                .concat()
                .try_into()
                .unwrap(),
        )
    }

    /// `fuse_read_in`.
    fn read_in(fh: u64, offset: u64, size: u32) -> Vec<u8> {
        bytes(&[fh, offset, u64::from(size), 0, 0])
    }

    /// The entries of a READDIRPLUS reply: name, node id, the dirent's ino.
    fn parse_direntplus(body: &[u8]) -> Vec<(OsString, u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let entry = &body[at..];
            let nodeid = u64_at(entry, 0);
            let ino = u64_at(entry, 128);
            let namelen = u32_at(entry, 144) as usize;
            let name = entry[152..152 + namelen].to_vec();
            out.push((OsString::from_vec(name), nodeid, ino));
            let size = (152 + namelen).next_multiple_of(8);
            assert!(entry[152 + namelen..size].iter().all(|&b| b == 0));
            at += size;
        }
        assert_eq!(at, body.len(), "entries overrun the reply");
        out
    }

    /// The names of a READDIR reply.
    fn parse_dirent(body: &[u8]) -> Vec<OsString> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let namelen = u32_at(&body[at..], 16) as usize;
            out.push(OsString::from_vec(
                body[at + 24..at + 24 + namelen].to_vec(),
            ));
            at += (24 + namelen).next_multiple_of(8);
        }
        assert_eq!(at, body.len());
        out
    }

    #[test]
    fn lookup_of_a_lower_file_then_getattr() {
        let f = fixture(&[("hello", b"hello world")]);
        let entry = f.call(opcode::LOOKUP, 1, &[], &cname("hello")).ok();
        assert_eq!(entry.len(), 128);
        let nodeid = u64_at(&entry, 0);
        assert_ne!(nodeid, 0);
        assert_eq!(u64_at(&entry, 40), nodeid); // attr.ino
        assert_eq!(u64_at(&entry, 48), 11); // attr.size
        assert_eq!(u32_at(&entry, 100) & libc::S_IFMT, libc::S_IFREG);

        let attr = f.call(opcode::GETATTR, nodeid, &[0; 16], &[]).ok();
        assert_eq!(attr.len(), 104);
        assert_eq!(u64_at(&attr, 16), nodeid);
        assert_eq!(u64_at(&attr, 24), 11);
        assert_eq!(attr[16..], entry[40..]);

        // An absent name is a negative entry: success, node 0.
        let negative = f.call(opcode::LOOKUP, 1, &[], &cname("absent")).ok();
        assert_eq!((negative.len(), u64_at(&negative, 0)), (128, 0));
        // A node nobody looked up is ENOENT or similar, never a panic.
        assert_ne!(f.call(opcode::GETATTR, 999_999, &[0; 16], &[]).error, 0);
    }

    #[test]
    fn create_write_read_back_release() {
        let f = fixture(&[]);
        let create_in = bytes(&[
            pair((libc::O_RDWR | libc::O_CREAT) as u32, 0o100644),
            pair(0o022, 0),
        ]);
        let created = f.call(opcode::CREATE, 1, &create_in, &cname("new")).ok();
        assert_eq!(created.len(), 128 + 16);
        let nodeid = u64_at(&created, 0);
        let fh = u64_at(&created, 128);
        assert_eq!(u32_at(&created, 100), libc::S_IFREG | 0o644);

        let write_in = bytes(&[fh, 0, pair(5, 0), 0, 0]);
        let written = f.call(opcode::WRITE, nodeid, &write_in, b"hello").ok();
        assert_eq!(written, [5, 0, 0, 0, 0, 0, 0, 0]);

        let read = f
            .call(opcode::READ, nodeid, &read_in(fh, 0, 4096), &[])
            .ok();
        assert_eq!(read, b"hello");
        let tail = f
            .call(opcode::READ, nodeid, &read_in(fh, 3, 4096), &[])
            .ok();
        assert_eq!(tail, b"lo");

        let lseek_in = bytes(&[fh, 0, pair(libc::SEEK_END as u32, 0)]);
        let end = f.call(opcode::LSEEK, nodeid, &lseek_in, &[]).ok();
        assert_eq!(u64_at(&end, 0), 5);

        let fsync_in = bytes(&[fh, 0]);
        assert!(f
            .call(opcode::FSYNC, nodeid, &fsync_in, &[])
            .ok()
            .is_empty());
        let release_in = bytes(&[fh, 0, 0]);
        assert!(f
            .call(opcode::RELEASE, nodeid, &release_in, &[])
            .ok()
            .is_empty());
        assert_eq!(std::fs::read(f.upper.join("new")).unwrap(), b"hello");
        // The handle is gone.
        let stale = f.call(opcode::READ, nodeid, &read_in(fh, 0, 16), &[]);
        assert_eq!((stale.error, stale.body.len()), (-libc::EBADF, 0));
    }

    #[test]
    fn mkdir_then_readdirplus_lists_names_with_their_node_ids() {
        let f = fixture(&[("a", b"1"), ("b", b"2")]);
        let mkdir_in = bytes(&[pair(0o40755, 0o022)]);
        let made = f.call(opcode::MKDIR, 1, &mkdir_in, &cname("d")).ok();
        assert_eq!(made.len(), 128);
        let dir_node = u64_at(&made, 0);
        assert_eq!(u32_at(&made, 100) & libc::S_IFMT, libc::S_IFDIR);

        let body = f
            .call(opcode::READDIRPLUS, 1, &read_in(0, 0, 65536), &[])
            .ok();
        let entries = parse_direntplus(&body);
        let by_name: HashMap<OsString, (u64, u64)> = entries
            .iter()
            .map(|(name, nodeid, ino)| (name.clone(), (*nodeid, *ino)))
            .collect();
        let mut names: Vec<&str> = by_name.keys().map(|n| n.to_str().unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, [".", "..", "a", "b", "d"]);
        assert_eq!(by_name[OsStr::new("d")], (dir_node, dir_node));
        // `.` names the directory itself; the others carry their looked-up node.
        assert_eq!(by_name[OsStr::new(".")], (1, 1));
        for name in ["a", "b"] {
            let (nodeid, ino) = by_name[OsStr::new(name)];
            assert_ne!(nodeid, 0);
            assert_eq!(nodeid, ino);
        }
        // Served to the end: the next read from the last offset is empty.
        let last = {
            let mut at = 0;
            let mut off = 0;
            while at < body.len() {
                off = u64_at(&body[at..], 136);
                at += (152 + u32_at(&body[at..], 144) as usize).next_multiple_of(8);
            }
            off
        };
        let rest = f
            .call(opcode::READDIRPLUS, 1, &read_in(0, last, 65536), &[])
            .ok();
        assert!(rest.is_empty());

        // A reply with room for two entries ends before the third.
        let small = f
            .call(opcode::READDIRPLUS, 1, &read_in(0, 0, 330), &[])
            .ok();
        assert_eq!(parse_direntplus(&small).len(), 2);

        let plain = f.call(opcode::READDIR, 1, &read_in(0, 0, 65536), &[]).ok();
        let mut plain = parse_dirent(&plain);
        plain.sort_unstable();
        assert_eq!(plain, [".", "..", "a", "b", "d"]);
    }

    #[test]
    fn unlink_of_a_lower_file_leaves_a_whiteout() {
        let f = fixture(&[("gone", b"x")]);
        let entry = f.call(opcode::LOOKUP, 1, &[], &cname("gone")).ok();
        assert_ne!(u64_at(&entry, 0), 0);
        assert!(f
            .call(opcode::UNLINK, 1, &[], &cname("gone"))
            .ok()
            .is_empty());
        assert!(f.upper.join(".wh.gone").exists());
        let negative = f.call(opcode::LOOKUP, 1, &[], &cname("gone")).ok();
        assert_eq!(u64_at(&negative, 0), 0);
        let again = f.call(opcode::UNLINK, 1, &[], &cname("gone"));
        assert_eq!(again.error, -libc::ENOENT);
    }

    #[test]
    fn setattr_chmod_copies_up_and_answers_the_new_mode() {
        let f = fixture(&[("script", b"#!/bin/sh\n")]);
        let nodeid = u64_at(&f.call(opcode::LOOKUP, 1, &[], &cname("script")).ok(), 0);
        let mut setattr_in = vec![0u8; 88];
        setattr_in[..4].copy_from_slice(&super::super::abi::fattr::MODE.to_ne_bytes());
        setattr_in[68..72].copy_from_slice(&0o100700u32.to_ne_bytes()); // mode
        let attr = f.call(opcode::SETATTR, nodeid, &setattr_in, &[]).ok();
        assert_eq!(attr.len(), 104);
        assert_eq!(u32_at(&attr, 16 + 60) & 0o7777, 0o700);
        let on_disk = std::fs::metadata(f.upper.join("script")).unwrap();
        assert_eq!(on_disk.permissions().mode() & 0o7777, 0o700);
    }

    #[test]
    fn setxattr_then_getxattr_probe_value_and_erange() {
        let f = fixture(&[]);
        let create_in = bytes(&[pair((libc::O_WRONLY | libc::O_CREAT) as u32, 0o100644), 0]);
        let created = f.call(opcode::CREATE, 1, &create_in, &cname("x")).ok();
        let nodeid = u64_at(&created, 0);

        let value = b"some value";
        let setxattr_in = bytes(&[pair(value.len() as u32, 0)]);
        let mut payload = cname("user.test");
        payload.extend_from_slice(value);
        let set = f.call(opcode::SETXATTR, nodeid, &setxattr_in[..8], &payload);
        if set.error == -libc::EOPNOTSUPP {
            return; // the temp dir's filesystem has no user xattrs
        }
        assert!(set.ok().is_empty());

        let probe = f
            .call(opcode::GETXATTR, nodeid, &bytes(&[0]), &cname("user.test"))
            .ok();
        assert_eq!(probe.len(), 8);
        assert_eq!(u32_at(&probe, 0) as usize, value.len());
        let got = f
            .call(opcode::GETXATTR, nodeid, &bytes(&[64]), &cname("user.test"))
            .ok();
        assert_eq!(got, value);
        let small = f.call(opcode::GETXATTR, nodeid, &bytes(&[3]), &cname("user.test"));
        assert_eq!((small.error, small.body.len()), (-libc::ERANGE, 0));

        let list = f.call(opcode::LISTXATTR, nodeid, &bytes(&[4096]), &[]).ok();
        assert!(list.split(|&b| b == 0).any(|n| n == b"user.test"));
        assert!(f
            .call(opcode::REMOVEXATTR, nodeid, &[], &cname("user.test"))
            .ok()
            .is_empty());
        let after = f.call(opcode::GETXATTR, nodeid, &bytes(&[0]), &cname("user.test"));
        assert_eq!(after.error, -libc::ENODATA);
    }

    #[test]
    fn namespace_changes_through_the_ring() {
        let f = fixture(&[("orig", b"data")]);
        let link = f.call(opcode::SYMLINK, 1, &[], b"ln\0orig\0").ok();
        let link_node = u64_at(&link, 0);
        assert_eq!(u32_at(&link, 100) & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(f.call(opcode::READLINK, link_node, &[], &[]).ok(), b"orig");

        let orig = u64_at(&f.call(opcode::LOOKUP, 1, &[], &cname("orig")).ok(), 0);
        let hard = f
            .call(opcode::LINK, 1, &bytes(&[orig]), &cname("hard"))
            .ok();
        assert_eq!(u64_at(&hard, 0), orig);

        let rename2_in = bytes(&[1, pair(libc::RENAME_NOREPLACE, 0)]);
        let clash = f.call(opcode::RENAME2, 1, &rename2_in, b"hard\0ln\0");
        assert_eq!(clash.error, -libc::EEXIST);
        assert!(f
            .call(opcode::RENAME, 1, &bytes(&[1]), b"hard\0moved\0")
            .ok()
            .is_empty());
        assert!(f.upper.join("moved").exists());
        assert!(f
            .call(opcode::RMDIR, 1, &[], &cname("moved"))
            .error
            .is_negative());

        let statfs = f.call(opcode::STATFS, 1, &[], &[]).ok();
        assert_eq!((statfs.len(), u32_at(&statfs, 44)), (80, 255));
        assert!(f.call(opcode::ACCESS, 1, &bytes(&[4]), &[]).ok().is_empty());
        assert!(f.call(opcode::DESTROY, 0, &[], &[]).ok().is_empty());
    }

    #[test]
    fn flush_opendir_and_unknown_opcodes_answer_enosys_with_no_payload() {
        let f = fixture(&[]);
        for opcode in [opcode::FLUSH, 31, 39, 52, 9999] {
            let answer = f.call(opcode, 1, &[0; 64], b"x\0");
            assert_eq!((answer.error, answer.body.len()), (-libc::ENOSYS, 0));
        }
        // Before INIT said the kernel can do without OPENDIR, OPENDIR opens.
        let opened = f.call(opcode::OPENDIR, 1, &[0; 8], &[]).ok();
        assert_eq!(opened.len(), 16);
        f.fs.no_opendir
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let answer = f.call(opcode::OPENDIR, 1, &[0; 8], &[]);
        assert_eq!((answer.error, answer.body.len()), (-libc::ENOSYS, 0));
    }

    #[test]
    fn malformed_requests_are_einval_with_no_payload() {
        let f = fixture(&[]);
        let no_nul = f.call(opcode::LOOKUP, 1, &[], b"name");
        assert_eq!((no_nul.error, no_nul.body.len()), (-libc::EINVAL, 0));
        let write_in = bytes(&[1, 0, pair(100, 0), 0, 0]);
        let short = f.call(opcode::WRITE, 1, &write_in, b"only a few");
        assert_eq!((short.error, short.body.len()), (-libc::EINVAL, 0));
    }
}
