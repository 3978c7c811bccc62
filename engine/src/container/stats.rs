//! `stats`: a container's resource use from /proc, without cgroups: CPU
//! time and resident memory summed over its processes, its network traffic
//! from its init's `/proc/PID/net/dev` (the container's own network
//! namespace; loopback left out), block I/O from `/proc/PID/io`. The memory
//! limit is the machine's memory. Resident sizes count shared pages once
//! per process, so the sum can overstate what a cgroup would charge.

use super::procs::container_processes;
use crate::error::Result;
use crate::record::ContainerRecord;

/// One reading; CPU percentages come from the difference of two.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub cpu_ticks: u64,
    pub memory_bytes: u64,
    pub memory_limit: u64,
    pub pids: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
}

pub fn usage(record: &ContainerRecord) -> Result<Usage> {
    let processes = container_processes(record)?;
    let mut usage = Usage {
        memory_limit: memory_total(),
        ..Usage::default()
    };
    for p in &processes {
        usage.cpu_ticks += p.cpu_ticks;
        usage.memory_bytes += p.rss_bytes;
        usage.pids += p.threads;
        let (read, write) = block_io(p.pid);
        usage.block_read += read;
        usage.block_write += write;
    }
    let (rx, tx) = net_dev(record.pid);
    usage.net_rx = rx;
    usage.net_tx = tx;
    Ok(usage)
}

fn memory_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn block_io(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("read_bytes:"), field("write_bytes:"))
}

fn net_dev(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    parse_net_dev(&text)
}

/// Received and sent bytes over every interface but loopback.
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            if name.trim() == "lo" {
                return None;
            }
            let fields: Vec<u64> = counters
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            Some((*fields.first()?, *fields.get(8)?))
        })
        .fold((0, 0), |(rx, tx), (r, t)| (rx + r, tx + t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_sums_all_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
eth0:    2048      20    0    0    0     0          0         0      512       5    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(text), (2048, 512));
    }
}
