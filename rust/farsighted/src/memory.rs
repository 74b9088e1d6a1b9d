//! How much memory a calculation may still allocate, for the checks that run before anything
//! large is allocated. The smallest of three limits (Linux; None elsewhere):
//!
//! - the memory the machine can still give (`MemAvailable` in /proc/meminfo);
//! - the memory limit of the process's control group, less what the group uses (containers,
//!   CI runners, batch schedulers; cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes`);
//! - the address-space limit of the process (`ulimit -v`, `RLIMIT_AS`), less its current
//!   virtual size: past it an allocation fails and the process aborts, whatever the machine
//!   has free.

use std::fs;

/// Memory the process can still allocate, in bytes (Linux only; None elsewhere)
pub fn available_memory() -> Option<u64> {
    [
        machine_available(),
        cgroup_available(),
        address_space_available(),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// `MemAvailable` of /proc/meminfo
fn machine_available() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&meminfo, "MemAvailable:")
}

/// A "Name:   1234 kB" line of a /proc file, in bytes
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// limit - usage of the control group (v2 with its path from /proc/self/cgroup, else v1 as
/// mounted in containers); None without a limit
fn cgroup_available() -> Option<u64> {
    let v2 = fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| {
            let path = text.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
            let directory = format!("/sys/fs/cgroup{}", path.trim_end_matches('/'));
            // "max" (no limit) does not parse
            let limit = read_number(&format!("{directory}/memory.max"))?;
            let usage = read_number(&format!("{directory}/memory.current"))?;
            Some(limit.saturating_sub(usage))
        });
    v2.or_else(|| {
        let limit = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes")?;
        // v1 writes a huge number (about 2⁶³) for no limit
        if limit >= 1 << 60 {
            return None;
        }
        let usage = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes")?;
        Some(limit.saturating_sub(usage))
    })
}

/// RLIMIT_AS (soft limit, from /proc/self/limits) minus the current virtual size (VmSize);
/// None without a limit
fn address_space_available() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    // "Max address space   <soft>   <hard>   bytes"; "unlimited" does not parse
    let soft: u64 = line
        .trim_start_matches("Max address space")
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let size = kib_field(&status, "VmSize:")?;
    Some(soft.saturating_sub(size))
}

/// "about 12.3 GiB"
pub(crate) fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / 1073741824.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let text = "MemTotal:       32000000 kB\nMemAvailable:   1000 kB\n";
        assert_eq!(kib_field(text, "MemAvailable:"), Some(1024000));
        assert_eq!(kib_field(text, "Missing:"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn some_memory_is_available() {
        let available = available_memory().expect("Linux reports its memory");
        assert!(available > 0);
        assert!(available <= machine_available().unwrap());
    }
}
