//! The WASI of guests built with a libc or a language runtime (C, Python), deny-all:
//! nothing of the machine they run on is reachable through it.

use super::CallState;
use crate::clock::Clock;
use crate::plugins::log::PluginLog;
use crate::plugins::manifest::Capability;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// What a guest may write to its WASI stdout and to its stderr in one call; a write past it
/// traps the call, like any other limit.
const MAX_STDIO_BYTES: usize = 64 * 1024;

/// The WASI of one call, deny-all: no preopened directories (so no filesystem at all), no
/// environment variables, no arguments, an empty stdin, no network (TCP, UDP and name
/// lookup are all refused). What remains is harmless or bounded:
/// - stdout and stderr are captured (up to [`MAX_STDIO_BYTES`] each) and copied into the
///   plugin's log after the call;
/// - the wall clock is the host's clock only when the agent is granted `clock`, as for the
///   `clock` import; otherwise it reads the Unix epoch;
/// - the monotonic clock counts from the start of the call, so it tells nothing about the
///   host beyond what the guest could measure by itself;
/// - random numbers come from the host's generator: they reveal nothing about the host.
pub struct GuestWasi {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl GuestWasi {
    fn new(wall_clock: GuestWallClock) -> Self {
        let stdout = MemoryOutputPipe::new(MAX_STDIO_BYTES);
        let stderr = MemoryOutputPipe::new(MAX_STDIO_BYTES);
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(wall_clock)
            .monotonic_clock(GuestMonotonicClock(Instant::now()))
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }

    /// Copies what the guest printed into its log, a line per entry.
    pub fn drain_into(&self, log: &PluginLog) {
        for (pipe, level) in [(&self.stdout, "info"), (&self.stderr, "warn")] {
            let printed = pipe.contents();
            for line in String::from_utf8_lossy(&printed).lines() {
                if !line.trim().is_empty() {
                    log.push(level, "plugin", line.to_owned());
                }
            }
        }
    }
}

impl CallState {
    fn guest_wall_clock(&self) -> GuestWallClock {
        let granted = self.grants.capabilities.contains(&Capability::Clock);
        GuestWallClock(granted.then(|| self.services.clock.clone()))
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wall_clock = self.guest_wall_clock();
        let wasi = self
            .wasi
            .get_or_insert_with(|| std::sync::Mutex::new(GuestWasi::new(wall_clock)))
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

/// The host's clock when granted, else a clock stopped at the Unix epoch.
struct GuestWallClock(Option<Arc<dyn Clock>>);

impl HostWallClock for GuestWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.as_ref().map_or(Duration::ZERO, |clock| {
            let now = clock.now();
            Duration::new(now.timestamp().max(0) as u64, now.timestamp_subsec_nanos())
        })
    }
}

/// Nanoseconds since the call started.
struct GuestMonotonicClock(Instant);

impl HostMonotonicClock for GuestMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.elapsed().as_nanos().min(u64::MAX as u128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::call_state;
    use super::*;
    use crate::clock::SystemClock;
    use crate::plugins::host::Session;
    use wasmtime_wasi::p2::OutputStream;

    #[test]
    fn wall_clock_reads_the_epoch_unless_clock_is_granted() {
        assert_eq!(GuestWallClock(None).now(), Duration::ZERO);
        let host = GuestWallClock(Some(Arc::new(SystemClock))).now();
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        assert!(since_epoch.abs_diff(host) < Duration::from_secs(5));
    }

    #[test]
    fn monotonic_clock_counts_from_the_start_of_the_call() {
        let clock = GuestMonotonicClock(Instant::now());
        assert!(clock.now() < Duration::from_secs(5).as_nanos() as u64);
    }

    #[test]
    fn the_wasi_wall_clock_follows_the_clock_grant() {
        let denied = call_state(&[], Session::None);
        assert_eq!(denied.state.guest_wall_clock().now(), Duration::ZERO);
        let granted = call_state(&[Capability::Clock], Session::None);
        assert!(granted.state.guest_wall_clock().now() > Duration::from_secs(1_700_000_000));
    }

    #[test]
    fn printed_lines_reach_the_log_and_stdio_is_bounded() {
        let wasi = GuestWasi::new(GuestWallClock(None));
        let mut out = wasi.stdout.clone();
        out.write(bytes::Bytes::from_static(b"hello\n\n  \nworld\n"))
            .unwrap();
        let mut err = wasi.stderr.clone();
        err.write(bytes::Bytes::from_static(b"oops\n")).unwrap();
        let log = PluginLog::default();
        wasi.drain_into(&log);
        let lines: Vec<_> = log
            .entries()
            .into_iter()
            .map(|e| (e.level, e.message))
            .collect();
        assert_eq!(
            lines,
            [
                ("info", "hello".to_owned()),
                ("info", "world".to_owned()),
                ("warn", "oops".to_owned())
            ]
        );

        let mut full = wasi.stdout.clone();
        let too_much = vec![b'x'; MAX_STDIO_BYTES];
        assert!(full.write(too_much.into()).is_err());
    }
}
