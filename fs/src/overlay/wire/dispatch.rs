//! [`RingHandler`] for the overlay: decode a request (`request.rs`), run the same
//! operation of `ops.rs` the fuser transport runs, encode its result (`abi.rs`) into
//! the entry's payload area as the body of a /dev/fuse reply would be. READ data is
//! read straight into the payload area; directory entries are encoded in place as the
//! listing loop produces them.

use std::time::Duration;

use super::abi::{self, DIRENTPLUS_SIZE, DIRENT_SIZE};
use super::request::{decode, Op};
use crate::overlay::errno::{Errno, FsResult};
use crate::overlay::ops::{placeholder_attr, Caller, DirItem, DirReply, Entry, OverlayFs, Xattr};
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
            // The 32-bit reply counts at most u32::MAX; keep the fuser path's limit.
            let len = if wide {
                len
            } else {
                len.min(u32::MAX as u64 / 2)
            };
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
        // `.` and `..` carry no entry: node 0 makes the kernel take nothing from them.
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
