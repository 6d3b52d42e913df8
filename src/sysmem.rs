//! Memory and CPU of processes, read from /proc (Linux).

/// Gives the heap's free pages back to the system. glibc keeps what a large parse freed in
/// its arenas, so a worker (or the stress harness, after a burst of 50 MB scores) would
/// otherwise stay at its peak long after the work is done.
pub fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; no pointers are passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Open file descriptors of a process.
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Threads of a process.
pub fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Resident set size of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// Whether a process has exited or is exiting: gone from /proc, or shown as a zombie (a
/// killed multi-threaded process shows its leader as a zombie while its other threads, which
/// still hold its files, finish exiting).
pub fn is_gone(pid: u32) -> bool {
    let fields = stat_fields(pid);
    matches!(
        fields.as_ref().and_then(|f| f.first()).map(String::as_str),
        Some("Z" | "X") | None
    )
}

/// The fields of /proc/PID/stat after the parenthesised command name (which may itself
/// hold spaces): state first.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Parent process id of a process.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// User + system CPU time of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let fields = stat_fields(pid)?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Memory the system still has available, in bytes (MemAvailable).
pub fn available_bytes() -> Option<u64> {
    meminfo_field("MemAvailable:")
}

pub fn total_bytes() -> Option<u64> {
    meminfo_field("MemTotal:")
}

fn meminfo_field(name: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map(|v| v as u64)
        .unwrap_or(4096)
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map(|v| v as f64)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(super::rss_bytes(pid).unwrap() > 1024 * 1024);
        assert!(super::cpu_seconds(pid).is_some());
        assert!(super::total_bytes().unwrap() > 0);
    }
}

/// The processes listening on TCP `port` (on any local address), found through the socket
/// tables and each process's open descriptors: how the harness finds a server it did not
/// start, to watch its memory. Empty when none is visible (another user's process, or a
/// server on another machine).
pub fn listening_pids(port: u16) -> Vec<u32> {
    let mut inodes = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 the inode.
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let listening_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if *state == "0A" && listening_port == Some(port) {
                inodes.insert(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|t| t.to_str().map(|t| inodes.contains(t)))
                .unwrap_or(false)
        });
        if holds {
            pids.push(pid);
        }
    }
    // A listening socket inherited by children (workers) belongs to their parent.
    let all = pids.clone();
    pids.retain(|p| !parent_pid(*p).is_some_and(|pp| all.contains(&pp)));
    pids
}

#[cfg(test)]
mod listening_tests {
    #[test]
    fn finds_this_process_listening() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(super::listening_pids(port), vec![std::process::id()]);
        drop(listener);
        assert!(super::listening_pids(port).is_empty());
    }
}
