//! Load benchmark for the Streamable HTTP endpoint.
//!
//! ```text
//! cargo build --release
//! cp target/release/adb-mcp /tmp/adb-mcp-release   # optional, see below
//! ADB_MCP_BIN=/tmp/adb-mcp-release cargo bench --bench mcp_load              # ~35 s
//! ADB_MCP_BIN=/tmp/adb-mcp-release cargo bench --bench mcp_load -- --quick   # ~10 s
//! cargo bench --bench mcp_load -- --help
//! ```
//!
//! It drives a release build of `adb-mcp serve` (stateless mode, 127.0.0.1
//! only, fresh temporary data directory) and measures start-up time, idle
//! memory, sequential latency and throughput of one `tools/call run_query`
//! (a 50-row indexed query on the demo database) at a fixed concurrency,
//! once with the default `info` logging and once with `--log-level warn`;
//! the server log goes to a file. It prints a human summary and, last, one
//! line `BENCH_JSON {...}` with every number. The process exits non-zero when
//! a call fails or the first answer is not the expected 50 rows.
//!
//! Without `ADB_MCP_BIN` it uses `<target dir>/release/adb-mcp`, which
//! `cargo bench` itself relinks with the dev-dependency features unified in;
//! a copy of the `cargo build --release` output measures exactly that build.
//!
//! CPU figures come from `/proc` (utime + stime of the server and of this
//! process); CPU used meanwhile by other processes, or stolen by the
//! hypervisor, is reported too, and `--wait-quiet S` waits for (and retries
//! around) such disturbances on a shared machine.
//!
//! Everything is bounded: fixed request counts, fixed load duration, a
//! timeout on every request and start-up, and the server is killed on exit
//! (also on panic) by a guard.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const RUN_QUERY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_query","arguments":{"sql":"SELECT order_id, customer_id, order_date, status, total_amount FROM orders WHERE order_date >= :since ORDER BY order_date","params":{"since":"2024-06-01"},"max_rows":50}}}"#;
const EXPECTED_ROWS: usize = 50;
const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// Per-request timeout (client side).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a timed start may take before the run is abandoned.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);
/// The first (untimed) start may also have to create the demo database.
const FIRST_START_DEADLINE: Duration = Duration::from_secs(60);
/// A load worker gives up after this many failed calls of its own.
const MAX_WORKER_ERRORS: u64 = 100;
/// The sequential phase gives up after this many failed calls.
const MAX_SEQ_ERRORS: u64 = 10;

/// Above this many cores used by other processes (or stolen by the
/// hypervisor) during a measurement, it is flagged as disturbed.
const NOISY_OTHER_CORES: f64 = 0.2;
/// With `--wait-quiet`, how many times a disturbed phase may be run.
const MAX_ATTEMPTS: u32 = 4;

/// Reference targets (2-core machine, this workload).
const TARGET_CALLS_PER_SEC: f64 = 10_000.0;
const TARGET_P99_MS: f64 = 10.0;
const TARGET_CPU_MS_PER_CALL: f64 = 0.15;
const TARGET_IDLE_RSS_MIB: f64 = 12.0;
const TARGET_STARTUP_MS: f64 = 20.0;

const USAGE: &str = "\
Usage: cargo bench --bench mcp_load -- [OPTIONS]

Options:
  --quick               short smoke run (3 starts, 300 sequential calls, 2 s load)
  --duration S          measured load duration in seconds        [default: 10, quick: 2]
  --warmup S            load warm-up before measuring, seconds   [default: 2, quick: 0.5]
  --concurrency N       concurrent keep-alive HTTP/1.1 connections [default: 32]
  --client-threads N    tokio worker threads of the load generator [default: 1]
  --seq-calls N         timed sequential calls                   [default: 2000, quick: 300]
  --seq-warmup N        untimed sequential calls before those    [default: 200, quick: 50]
  --startup-runs N      timed server starts                      [default: 5, quick: 3]
  --wait-quiet S        for shared machines: before start-up and each sequential and load
                        phase wait up to S seconds until other processes (and hypervisor
                        steal) use < 0.2 cores, and run a disturbed phase again (up to 4
                        times, keeping the least disturbed run)         [default: 0]
  --db PATH             serve this SQLite file (server flag --db) instead of the demo database;
                        it must have the demo `orders` table
  -h, --help            this text

Environment:
  ADB_MCP_BIN           server binary; default <target dir>/release/adb-mcp (build it with
                        `cargo build --release`)
  The server is started with no ADB_MCP_* variables and no RUST_LOG, with a temporary
  directory as its working directory (so no adb-mcp.toml is picked up).";

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mcp_load: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = locate_binary().and_then(|bin| run(&opts, &bin));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mcp_load: error: {e}");
            // Machine readers get a final line in every case.
            println!(
                "BENCH_JSON {}",
                json!({ "bench": "mcp_load", "ok": false, "error": e })
            );
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Options

#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    duration: Duration,
    warmup: Duration,
    concurrency: usize,
    client_threads: usize,
    seq_calls: usize,
    seq_warmup: usize,
    startup_runs: usize,
    db: Option<PathBuf>,
    wait_quiet: Duration,
}

impl Options {
    /// `Ok(None)` means `--help`.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Self>, String> {
        let mut quick = false;
        let mut duration = None;
        let mut warmup = None;
        let mut concurrency = None;
        let mut client_threads = None;
        let mut seq_calls = None;
        let mut seq_warmup = None;
        let mut startup_runs = None;
        let mut db = None;
        let mut wait_quiet = Duration::ZERO;

        while let Some(arg) = args.next() {
            // Accept both `--flag value` and `--flag=value`.
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => args.next().ok_or_else(|| format!("{name} needs a value")),
                }
            };
            match flag.as_str() {
                // `cargo bench` passes `--bench` to harness-less benches.
                "--bench" => {}
                "-h" | "--help" => return Ok(None),
                "--quick" => quick = true,
                "--duration" => duration = Some(parse_secs("--duration", &value("--duration")?)?),
                "--warmup" => warmup = Some(parse_secs("--warmup", &value("--warmup")?)?),
                "--concurrency" => {
                    concurrency = Some(parse_count(
                        "--concurrency",
                        &value("--concurrency")?,
                        1,
                        4096,
                    )?)
                }
                "--client-threads" => {
                    client_threads = Some(parse_count(
                        "--client-threads",
                        &value("--client-threads")?,
                        1,
                        64,
                    )?)
                }
                "--seq-calls" => {
                    seq_calls = Some(parse_count(
                        "--seq-calls",
                        &value("--seq-calls")?,
                        1,
                        1_000_000,
                    )?)
                }
                "--seq-warmup" => {
                    seq_warmup = Some(parse_count(
                        "--seq-warmup",
                        &value("--seq-warmup")?,
                        0,
                        1_000_000,
                    )?)
                }
                "--startup-runs" => {
                    startup_runs = Some(parse_count(
                        "--startup-runs",
                        &value("--startup-runs")?,
                        1,
                        100,
                    )?)
                }
                "--db" => db = Some(PathBuf::from(value("--db")?)),
                "--wait-quiet" => wait_quiet = parse_secs("--wait-quiet", &value("--wait-quiet")?)?,
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if let Some(p) = &db
            && !p.is_file()
        {
            return Err(format!("--db {}: no such file", p.display()));
        }
        Ok(Some(Self {
            quick,
            duration: duration.unwrap_or(if quick {
                Duration::from_secs(2)
            } else {
                Duration::from_secs(10)
            }),
            warmup: warmup.unwrap_or(if quick {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(2)
            }),
            concurrency: concurrency.unwrap_or(32),
            client_threads: client_threads.unwrap_or(1),
            seq_calls: seq_calls.unwrap_or(if quick { 300 } else { 2_000 }),
            seq_warmup: seq_warmup.unwrap_or(if quick { 50 } else { 200 }),
            startup_runs: startup_runs.unwrap_or(if quick { 3 } else { 5 }),
            db,
            wait_quiet,
        }))
    }
}

fn parse_secs(name: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = v
        .parse()
        .map_err(|_| format!("{name}: `{v}` is not a number of seconds"))?;
    if !(0.0..=600.0).contains(&s) {
        return Err(format!("{name}: {s} s is outside 0..=600"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn parse_count(name: &str, v: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = v
        .parse()
        .map_err(|_| format!("{name}: `{v}` is not a whole number"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("{name}: {n} is outside {min}..={max}"));
    }
    Ok(n)
}

// ---------------------------------------------------------------------------
// Locating the server binary

fn locate_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ADB_MCP_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("ADB_MCP_BIN={} does not exist", p.display()))
        };
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = format!("adb-mcp{}", std::env::consts::EXE_SUFFIX);
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(manifest.join(dir).join("release").join(&exe));
    }
    candidates.push(manifest.join("target").join("release").join(&exe));
    // This bench runs from <target>/release/deps/mcp_load-<hash>.
    if let Ok(me) = std::env::current_exe()
        && let Some(release) = me.parent().and_then(Path::parent)
    {
        let p = release.join(&exe);
        if !candidates.contains(&p) {
            candidates.push(p);
        }
    }
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates
        .iter()
        .map(|p| format!("  {}", p.display()))
        .collect();
    Err(format!(
        "the release binary of adb-mcp was not found; looked in:\n{}\nBuild it first:\n  cargo build --release\n\
         (with the same CARGO_TARGET_DIR), or point ADB_MCP_BIN at an adb-mcp binary.",
        looked.join("\n")
    ))
}

/// The newest modification time of any file under `dir`.
fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if let Ok(m) = meta.modified() {
                newest = Some(newest.map_or(m, |n: SystemTime| n.max(m)));
            }
        }
    }
    newest
}

// ---------------------------------------------------------------------------
// The server process

/// A running `adb-mcp serve`; dropping it kills the process.
struct ServerProc {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl ServerProc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct ServerSpec<'a> {
    bin: &'a Path,
    data_dir: &'a Path,
    db: Option<&'a Path>,
    /// `None`: the server's default level (`info`).
    log_level: Option<&'a str>,
    /// Server stderr (its log) is appended here.
    log: PathBuf,
}

/// An unused loopback port (there is a small race until the server binds it;
/// `start_server` retries on another port if the server exits).
fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

/// Spawns the server and waits for the first answered `initialize`.
/// Returns the server and the time from spawn to that answer.
fn start_server(
    spec: &ServerSpec<'_>,
    deadline: Duration,
) -> Result<(ServerProc, Duration), String> {
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let port = free_port().map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(|e| format!("cannot open {}: {e}", spec.log.display()))?;
        let mut cmd = Command::new(spec.bin);
        if let Some(level) = spec.log_level {
            cmd.args(["--log-level", level]);
        }
        cmd.arg("serve")
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--session-mode", "stateless"])
            .arg("--data-dir")
            .arg(spec.data_dir);
        if let Some(db) = spec.db {
            cmd.arg("--db").arg(db);
        }
        // The server reads ADB_MCP_* (and RUST_LOG) as configuration; keep the
        // caller's environment (ADB_MCP_BIN included) from changing what is measured.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("ADB_MCP_")) {
                cmd.env_remove(&key);
            }
        }
        cmd.env_remove("RUST_LOG")
            .current_dir(spec.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));

        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", spec.bin.display()))?;
        let mut server = ServerProc {
            child,
            port,
            log: spec.log.clone(),
        };
        match wait_for_initialize(&mut server, spawned, deadline) {
            Ok(elapsed) => return Ok((server, elapsed)),
            Err(StartError::Exited(e)) => last_err = e, // maybe lost the port race; try another port
            Err(StartError::Failed(e)) => return Err(e),
        }
    }
    Err(last_err)
}

enum StartError {
    /// The process exited (possibly a port clash): worth another try.
    Exited(String),
    Failed(String),
}

/// Polls with raw blocking sockets (no runtime, no pool, sub-millisecond
/// retry) so the measured time is the server's, not the client's.
fn wait_for_initialize(
    server: &mut ServerProc,
    spawned: Instant,
    deadline: Duration,
) -> Result<Duration, StartError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port));
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(StartError::Exited(format!(
                "the server exited ({status}) before answering initialize; its log:\n{}",
                server.log_tail()
            )));
        }
        if spawned.elapsed() > deadline {
            return Err(StartError::Failed(format!(
                "the server did not answer initialize within {deadline:?}; its log:\n{}",
                server.log_tail()
            )));
        }
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => match raw_post(stream, server.port, INITIALIZE) {
                Ok((200, _)) => return Ok(spawned.elapsed()),
                Ok((status, body)) => {
                    return Err(StartError::Failed(format!(
                        "initialize answered HTTP {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(500)])
                    )));
                }
                // Accepted but reset while starting up: try again.
                Err(_) => std::thread::sleep(Duration::from_micros(100)),
            },
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// One HTTP/1.1 POST /mcp with `Connection: close`; returns status and body.
fn raw_post(mut stream: TcpStream, port: u16, body: &str) -> std::io::Result<(u16, Vec<u8>)> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_BOTH}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::with_capacity(2048);
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "incomplete HTTP response"))?;
    let status = std::str::from_utf8(&response[..head_end])
        .ok()
        .and_then(|head| head.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "bad HTTP status line"))?;
    Ok((status, response[head_end + 4..].to_vec()))
}

// ---------------------------------------------------------------------------
// /proc

fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn rss_mib(pid: u32) -> Option<f64> {
    proc_status_kib(&pid.to_string(), "VmRSS").map(|k| k as f64 / 1024.0)
}

fn hwm_mib(pid: u32) -> Option<f64> {
    proc_status_kib(&pid.to_string(), "VmHWM").map(|k| k as f64 / 1024.0)
}

/// (anonymous, file-backed) parts of the RSS in MiB.
fn rss_split_mib(pid: u32) -> (f64, f64) {
    let pid = pid.to_string();
    let mib = |field| proc_status_kib(&pid, field).map_or(f64::NAN, |k| k as f64 / 1024.0);
    (mib("RssAnon"), mib("RssFile"))
}

fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// utime + stime in clock ticks (`pid` may be "self").
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it start at 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?; // field 14
    let stime: u64 = fields.get(12)?.parse().ok()?; // field 15
    Some(utime + stime)
}

/// Clock ticks the whole machine (all CPUs) spent running processes
/// (user, nice, system) or lost to the hypervisor (steal), from `/proc/stat`.
/// Interrupt and softirq time is left out: on this benchmark it is mostly
/// the loopback traffic of the benchmark itself, which no process is charged for.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let v: Vec<u64> = cpu
        .split_whitespace()
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    Some(v.first()? + v.get(1)? + v.get(2)? + v.get(7)?)
}

/// utime + stime + cutime + cstime of this process: its own CPU and that of
/// the children it has waited for (the servers of finished phases).
fn own_ticks_with_children() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace()
        .skip(11) // fields 14..=17
        .take(4)
        .map(|f| f.parse::<u64>().ok())
        .sum()
}

/// Measures how much CPU everything other than this benchmark (and the
/// server, if given) uses from `start` on.
struct Noise {
    server_pid: Option<String>,
    at: Instant,
    machine: Option<u64>,
    own: Option<u64>,
}

impl Noise {
    fn start(server_pid: Option<u32>) -> Self {
        let server_pid = server_pid.map(|p| p.to_string());
        let own = Self::own(server_pid.as_deref());
        Self {
            at: Instant::now(),
            machine: machine_busy_ticks(),
            own,
            server_pid,
        }
    }

    fn own(server_pid: Option<&str>) -> Option<u64> {
        Some(own_ticks_with_children()? + server_pid.map_or(Some(0), cpu_ticks)?)
    }

    /// Cores used by others since `start` (NaN if /proc is unreadable).
    fn cores(&self, ticks: f64) -> f64 {
        let (Some(m0), Some(o0), Some(m1), Some(o1)) = (
            self.machine,
            self.own,
            machine_busy_ticks(),
            Self::own(self.server_pid.as_deref()),
        ) else {
            return f64::NAN;
        };
        let other = (m1.saturating_sub(m0) as f64 - o1.saturating_sub(o0) as f64).max(0.0);
        other / ticks / self.at.elapsed().as_secs_f64()
    }
}

/// Waits, at most `max`, until processes other than this one (and the
/// server, if given) use less than [`NOISY_OTHER_CORES`], measured over
/// half-second windows. Returns the last measurement (cores).
fn wait_quiet(max: Duration, server_pid: Option<u32>, ticks: f64) -> f64 {
    let deadline = Instant::now() + max;
    loop {
        let noise = Noise::start(server_pid);
        std::thread::sleep(Duration::from_millis(500));
        let cores = noise.cores(ticks);
        if cores.is_nan() || cores < NOISY_OTHER_CORES || Instant::now() >= deadline {
            return cores;
        }
    }
}

/// Runs `measure` once, or — with `--wait-quiet` — again while other
/// processes disturbed it (up to [`MAX_ATTEMPTS`] runs), keeping the least
/// disturbed run. A failed run (`failed`) is kept and ends the retries, so
/// failures are never retried away. Returns the run, the cores others used
/// during it, and the number of runs.
fn least_disturbed<T>(
    opts: &Options,
    ticks: f64,
    server_pid: Option<u32>,
    what: &str,
    mut measure: impl FnMut() -> Result<T, String>,
    failed: impl Fn(&T) -> bool,
) -> Result<(T, f64, u32), String> {
    let mut kept: Option<(T, f64)> = None;
    let mut attempts = 0;
    while attempts < MAX_ATTEMPTS {
        attempts += 1;
        settle(opts, server_pid, ticks);
        let noise = Noise::start(server_pid);
        let run = measure()?;
        let cores = noise.cores(ticks);
        let run_failed = failed(&run);
        let better = kept.as_ref().is_none_or(|(_, k)| run_failed || cores < *k);
        if better {
            kept = Some((run, cores));
        }
        if opts.wait_quiet.is_zero() || run_failed || cores.is_nan() || cores <= NOISY_OTHER_CORES {
            break;
        }
        if attempts < MAX_ATTEMPTS {
            println!("  {what} disturbed (others used {cores:.2} cores); running it again");
        }
    }
    let (run, cores) = kept.ok_or_else(|| format!("{what}: nothing was run"))?;
    Ok((run, cores, attempts))
}

/// Runs [`wait_quiet`] if asked to and says how it went.
fn settle(opts: &Options, server_pid: Option<u32>, ticks: f64) {
    if opts.wait_quiet.is_zero() {
        return;
    }
    let t = Instant::now();
    let cores = wait_quiet(opts.wait_quiet, server_pid, ticks);
    let waited = t.elapsed().as_secs_f64();
    if cores < NOISY_OTHER_CORES {
        println!("  (machine quiet after {waited:.1} s: others use {cores:.2} cores)");
    } else {
        println!(
            "  (machine still busy after {waited:.1} s: others use {cores:.2} cores; going on)"
        );
    }
}

/// Clock ticks per second and whether it had to be assumed.
fn clock_ticks() -> (f64, bool) {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .map_or((100.0, true), |t| (t, false))
}

// ---------------------------------------------------------------------------
// Statistics

/// Latencies in nanoseconds, sorted.
struct Latencies(Vec<u64>);

impl Latencies {
    fn new(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        Self(v)
    }

    /// Nearest-rank percentile in nanoseconds.
    fn pct(&self, p: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    fn us(&self, p: f64) -> f64 {
        self.pct(p) as f64 / 1e3
    }

    fn ms(&self, p: f64) -> f64 {
        self.pct(p) as f64 / 1e6
    }

    fn mean_us(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.iter().sum::<u64>() as f64 / self.0.len() as f64 / 1e3
    }
}

fn median_ms(samples: &[Duration]) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

// ---------------------------------------------------------------------------
// HTTP client side

#[derive(Debug, Default, Clone)]
struct Errors {
    http_status: u64,
    tool_error: u64,
    rpc_error: u64,
    transport: u64,
    first: Option<String>,
}

impl Errors {
    fn total(&self) -> u64 {
        self.http_status + self.tool_error + self.rpc_error + self.transport
    }

    fn record(&mut self, outcome: Outcome) {
        let what = match outcome {
            Outcome::Ok => return,
            Outcome::HttpStatus(s) => {
                self.http_status += 1;
                format!("HTTP status {s}")
            }
            Outcome::ToolError => {
                self.tool_error += 1;
                "tool result with \"isError\":true".to_owned()
            }
            Outcome::RpcError => {
                self.rpc_error += 1;
                "JSON-RPC answer without a result".to_owned()
            }
            Outcome::Transport(e) => {
                self.transport += 1;
                format!("transport: {e}")
            }
        };
        self.first.get_or_insert(what);
    }

    fn merge(&mut self, other: Errors) {
        self.http_status += other.http_status;
        self.tool_error += other.tool_error;
        self.rpc_error += other.rpc_error;
        self.transport += other.transport;
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "total": self.total(),
            "http_status": self.http_status,
            "tool_error": self.tool_error,
            "rpc_error": self.rpc_error,
            "transport": self.transport,
            "first": self.first,
        })
    }
}

enum Outcome {
    Ok,
    HttpStatus(u16),
    ToolError,
    RpcError,
    Transport(String),
}

/// Keep-alive HTTP/1.1 client with a pool sized to the concurrency and the
/// MCP headers set once.
fn build_client(pool: usize) -> Result<reqwest::Client, String> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_BOTH));
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool)
        .pool_idle_timeout(None)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .default_headers(headers)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// One POST; the body is a `&'static [u8]`, which reqwest wraps without copying.
async fn post(
    client: &reqwest::Client,
    url: &reqwest::Url,
    body: &'static [u8],
) -> Result<(u16, Vec<u8>), String> {
    let resp = client
        .post(url.clone())
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{e:#}"))?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| format!("{e:#}"))?;
    Ok((status, bytes.to_vec()))
}

/// One `run_query` call, classified without parsing the JSON (a substring
/// scan keeps the client cheap; the first answer is parsed fully elsewhere).
async fn call_checked(
    client: &reqwest::Client,
    url: &reqwest::Url,
    body: &'static [u8],
) -> Outcome {
    let resp = match client.post(url.clone()).body(body).send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Transport(format!("{e:#}")),
    };
    let status = resp.status().as_u16();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Outcome::Transport(format!("{e:#}")),
    };
    if status != 200 {
        return Outcome::HttpStatus(status);
    }
    classify(&bytes)
}

fn classify(body: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(body) else {
        return Outcome::RpcError;
    };
    if text.contains(r#""isError":true"#) {
        Outcome::ToolError
    } else if !text.contains(r#""result":"#) {
        Outcome::RpcError
    } else {
        Outcome::Ok
    }
}

/// Checks the first `run_query` answer in full: success and 50 rows.
fn validate_first(status: u16, body: &[u8]) -> Result<usize, String> {
    let excerpt = || String::from_utf8_lossy(&body[..body.len().min(600)]).into_owned();
    if status != 200 {
        return Err(format!("HTTP {status}: {}", excerpt()));
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e}): {}", excerpt()))?;
    let result = v
        .get("result")
        .ok_or_else(|| format!("JSON-RPC error: {}", excerpt()))?;
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        return Err(format!("tool error: {}", excerpt()));
    }
    let rows = result
        .pointer("/structuredContent/rows")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no structuredContent.rows: {}", excerpt()))?
        .len();
    if rows != EXPECTED_ROWS {
        return Err(format!("expected {EXPECTED_ROWS} rows, got {rows}"));
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------
// Phases

struct SeqResult {
    lat: Latencies,
    errors: Errors,
}

/// One client, one connection: `initialize`, the first call checked in full,
/// warm-up calls, then `calls` timed calls.
async fn sequential(url: reqwest::Url, warmup: usize, calls: usize) -> Result<SeqResult, String> {
    let client = build_client(1)?;
    let (status, body) = post(&client, &url, INITIALIZE.as_bytes()).await?;
    if status != 200 {
        return Err(format!(
            "initialize answered HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    let (status, body) = post(&client, &url, RUN_QUERY.as_bytes()).await?;
    validate_first(status, &body)
        .map_err(|e| format!("the first run_query call is not the expected answer: {e}"))?;

    let mut errors = Errors::default();
    for _ in 0..warmup {
        errors.record(call_checked(&client, &url, RUN_QUERY.as_bytes()).await);
        if errors.total() >= MAX_SEQ_ERRORS {
            return Ok(SeqResult {
                lat: Latencies::new(Vec::new()),
                errors,
            });
        }
    }
    let mut lat = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let outcome = call_checked(&client, &url, RUN_QUERY.as_bytes()).await;
        lat.push(t.elapsed().as_nanos() as u64);
        errors.record(outcome);
        if errors.total() >= MAX_SEQ_ERRORS {
            break;
        }
    }
    Ok(SeqResult {
        lat: Latencies::new(lat),
        errors,
    })
}

struct WorkerResult {
    lat: Vec<u64>,
    window_calls: u64,
    total_calls: u64,
    errors: Errors,
}

/// Calls back-to-back on its own keep-alive connection until `end`; counts
/// (and times) only the calls that complete inside `[start, end]`.
async fn worker(
    client: reqwest::Client,
    url: reqwest::Url,
    start: Instant,
    end: Instant,
) -> WorkerResult {
    let mut lat = Vec::with_capacity(8192);
    let mut window_calls = 0;
    let mut total_calls = 0;
    let mut errors = Errors::default();
    loop {
        let t = Instant::now();
        if t >= end {
            break;
        }
        let outcome = call_checked(&client, &url, RUN_QUERY.as_bytes()).await;
        let done = Instant::now();
        total_calls += 1;
        if done >= start && done <= end {
            window_calls += 1;
            lat.push((done - t).as_nanos() as u64);
        }
        if !matches!(outcome, Outcome::Ok) {
            errors.record(outcome);
            if errors.total() >= MAX_WORKER_ERRORS {
                break;
            }
            // Do not spin on a dead server.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    WorkerResult {
        lat,
        window_calls,
        total_calls,
        errors,
    }
}

struct LoadResult {
    calls: u64,
    total_calls: u64,
    window: Duration,
    lat: Latencies,
    errors: Errors,
    server_cpu_s: f64,
    client_cpu_s: f64,
    /// CPU seconds used by everything else on the machine during the window.
    other_cpu_s: f64,
}

impl LoadResult {
    fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.window.as_secs_f64()
    }

    fn server_cpu_ms_per_call(&self) -> f64 {
        if self.calls == 0 {
            return 0.0;
        }
        self.server_cpu_s * 1e3 / self.calls as f64
    }

    fn cores(&self, cpu_s: f64) -> f64 {
        cpu_s / self.window.as_secs_f64()
    }

    fn client_cpu_ms_per_call(&self) -> f64 {
        if self.calls == 0 {
            return 0.0;
        }
        self.client_cpu_s * 1e3 / self.calls as f64
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// `concurrency` workers on the load runtime; this thread only samples
/// `/proc` at the window edges, so its sleeping does not disturb the load.
fn load(
    rt: &tokio::runtime::Runtime,
    url: &reqwest::Url,
    server_pid: u32,
    opts: &Options,
    ticks: f64,
) -> Result<LoadResult, String> {
    let client = build_client(opts.concurrency)?;
    let begin = Instant::now();
    let start = begin + opts.warmup;
    let end = start + opts.duration;
    let handles: Vec<_> = (0..opts.concurrency)
        .map(|_| rt.spawn(worker(client.clone(), url.clone(), start, end)))
        .collect();
    let server_pid = server_pid.to_string();
    sleep_until(start);
    let s0 = cpu_ticks(&server_pid);
    let c0 = cpu_ticks("self");
    let m0 = machine_busy_ticks();
    sleep_until(end);
    let s1 = cpu_ticks(&server_pid);
    let c1 = cpu_ticks("self");
    let m1 = machine_busy_ticks();

    let mut lat = Vec::new();
    let mut calls = 0;
    let mut total_calls = 0;
    let mut errors = Errors::default();
    for h in handles {
        let r = rt
            .block_on(h)
            .map_err(|e| format!("a load worker failed: {e}"))?;
        lat.extend_from_slice(&r.lat);
        calls += r.window_calls;
        total_calls += r.total_calls;
        errors.merge(r.errors);
    }
    let delta = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / ticks,
        _ => f64::NAN,
    };
    let server_cpu_s = delta(s0, s1);
    let client_cpu_s = delta(c0, c1);
    Ok(LoadResult {
        calls,
        total_calls,
        window: opts.duration,
        lat: Latencies::new(lat),
        errors,
        server_cpu_s,
        client_cpu_s,
        other_cpu_s: (delta(m0, m1) - server_cpu_s - client_cpu_s).max(0.0),
    })
}

// ---------------------------------------------------------------------------
// One server configuration: idle RSS, sequential latency, throughput.

struct LevelRun {
    label: &'static str,
    idle_rss_mib: f64,
    idle_rss_anon_mib: f64,
    idle_rss_file_mib: f64,
    idle_threads: u64,
    seq: SeqResult,
    load: LoadResult,
    rss_after_mib: f64,
    hwm_mib: f64,
    log_bytes_per_call: f64,
    load_attempts: u32,
    seq_attempts: u32,
    /// Cores used by other processes during the kept sequential run.
    seq_noise: f64,
}

fn run_level(
    rt: &tokio::runtime::Runtime,
    spec: &ServerSpec<'_>,
    label: &'static str,
    opts: &Options,
    ticks: f64,
) -> Result<LevelRun, String> {
    let (server, _) = start_server(spec, STARTUP_DEADLINE)?;
    let url = reqwest::Url::parse(&server.url()).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(1));
    let pid = server.pid();
    let idle_rss_mib = rss_mib(pid).unwrap_or(f64::NAN);
    let (idle_rss_anon_mib, idle_rss_file_mib) = rss_split_mib(pid);
    let idle_threads = threads(pid).unwrap_or(0);
    println!(
        "  [{label}] pid {pid}, idle RSS {idle_rss_mib:.1} MiB \
         (anon {idle_rss_anon_mib:.1}, file {idle_rss_file_mib:.1}; {idle_threads} threads)"
    );

    let (seq, seq_noise, seq_attempts) = least_disturbed(
        opts,
        ticks,
        Some(pid),
        &format!("[{label}] sequential phase"),
        || {
            rt.block_on(rt.spawn(sequential(url.clone(), opts.seq_warmup, opts.seq_calls)))
                .map_err(|e| format!("the sequential phase failed: {e}"))?
        },
        |r: &SeqResult| r.errors.total() > 0,
    )?;
    println!(
        "  [{label}] sequential: {} calls, p50 {:.0} µs, p99 {:.0} µs, errors {}",
        seq.lat.0.len(),
        seq.lat.us(50.0),
        seq.lat.us(99.0),
        seq.errors.total()
    );

    let ((load, log_delta), _, load_attempts) = least_disturbed(
        opts,
        ticks,
        Some(pid),
        &format!("[{label}] load phase"),
        || {
            let log_before = server.log_bytes();
            let run = load(rt, &url, pid, opts, ticks)?;
            Ok((run, server.log_bytes().saturating_sub(log_before)))
        },
        |(r, _): &(LoadResult, u64)| r.errors.total() > 0,
    )?;
    let rss_after_mib = rss_mib(pid).unwrap_or(f64::NAN);
    let hwm_mib = hwm_mib(pid).unwrap_or(f64::NAN);
    println!(
        "  [{label}] load: {:.0} calls/s, p99 {:.2} ms, errors {}",
        load.calls_per_sec(),
        load.lat.ms(99.0),
        load.errors.total()
    );
    let log_bytes_per_call = if load.total_calls == 0 {
        0.0
    } else {
        log_delta as f64 / load.total_calls as f64
    };
    drop(server);
    Ok(LevelRun {
        label,
        idle_rss_mib,
        idle_rss_anon_mib,
        idle_rss_file_mib,
        idle_threads,
        seq,
        load,
        rss_after_mib,
        hwm_mib,
        log_bytes_per_call,
        load_attempts,
        seq_attempts,
        seq_noise,
    })
}

// ---------------------------------------------------------------------------

fn run(opts: &Options, bin: &Path) -> Result<bool, String> {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let (ticks, ticks_assumed) = clock_ticks();
    let tmp = tempfile::Builder::new()
        .prefix("adb-mcp-bench-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;

    println!(
        "adb-mcp load benchmark{}",
        if opts.quick { " (--quick)" } else { "" }
    );
    println!("  server binary : {}", bin.display());
    if let (Ok(built), Some(src)) = (
        std::fs::metadata(bin).and_then(|m| m.modified()),
        newest_mtime(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")),
    ) && src > built
    {
        println!(
            "  note          : the binary is older than the newest file in src/ (rebuild with `cargo build --release`)"
        );
    }
    if std::env::var_os("ADB_MCP_BIN").is_none() {
        println!(
            "  note          : `cargo bench` relinks this binary with dev-dependency features unified in; \
             set ADB_MCP_BIN to a copy of the `cargo build --release` output to measure exactly that build"
        );
    }
    println!(
        "  database      : {}",
        opts.db.as_ref().map_or_else(
            || "demo database (created by an untimed first start)".to_owned(),
            |p| p.display().to_string()
        )
    );
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "  machine       : {cpus} CPUs; CLK_TCK {ticks}{}; load average {}",
        if ticks_assumed {
            " (assumed: getconf failed)"
        } else {
            ""
        },
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("  server log    : stderr to a file in the temp dir (per-request lines at info)");
    println!(
        "  client        : reqwest, HTTP/1.1 keep-alive, tokio runtime with {} worker thread{}",
        opts.client_threads,
        if opts.client_threads == 1 { "" } else { "s" }
    );
    println!();

    let spec = |level: Option<&'static str>, log: &str| ServerSpec {
        bin,
        data_dir: &data_dir,
        db: opts.db.as_deref(),
        log_level: level,
        log: tmp.path().join(log),
    };

    // 1. Start-up. The first start creates the demo database and warms the page cache.
    println!("start-up (spawn -> first answered initialize)");
    let (first, first_time) = start_server(&spec(None, "first-start.log"), FIRST_START_DEADLINE)?;
    drop(first);
    if opts.db.is_none() {
        let db = data_dir.join("demo.db");
        let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        println!(
            "  untimed first start (creates {}, {:.1} KiB): {:.1} ms",
            db.display(),
            size as f64 / 1024.0,
            first_time.as_secs_f64() * 1e3
        );
    }
    settle(opts, None, ticks);
    let startup_noise = Noise::start(None);
    let mut startup = Vec::with_capacity(opts.startup_runs);
    for i in 0..opts.startup_runs {
        let (server, t) = start_server(&spec(None, "startup.log"), STARTUP_DEADLINE)?;
        drop(server);
        println!("  run {}: {:.2} ms", i + 1, t.as_secs_f64() * 1e3);
        startup.push(t);
    }
    let startup_median = median_ms(&startup);
    let startup_min = startup.iter().min().map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let startup_max = startup.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let startup_noise = startup_noise.cores(ticks);
    println!(
        "  median {startup_median:.2} ms, min {startup_min:.2} ms (others used {startup_noise:.2} cores meanwhile)"
    );
    println!();

    // 2-5. Default (info) logging, then --log-level warn.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let mut runs = Vec::new();
    for (label, level) in [("info", None), ("warn", Some("warn"))] {
        println!(
            "server with log level {label}{}",
            if level.is_none() { " (default)" } else { "" }
        );
        runs.push(run_level(
            &rt,
            &spec(level, &format!("server-{label}.log")),
            label,
            opts,
            ticks,
        )?);
        println!();
    }
    drop(rt);

    // Summary.
    let ok = runs
        .iter()
        .all(|r| r.seq.errors.total() == 0 && r.load.errors.total() == 0);
    let info = &runs[0];
    let warn = &runs[1];

    let mut out = String::new();
    let _ = writeln!(out, "== summary ==");
    let _ = writeln!(
        out,
        "start-up to first initialize : median {startup_median:.2} ms, min {startup_min:.2} ms ({} runs)",
        startup.len()
    );
    let _ = writeln!(
        out,
        "sequential run_query (1 conn): {} calls after {} warm-up",
        info.seq.lat.0.len(),
        opts.seq_warmup
    );
    let _ = writeln!(
        out,
        "load                         : {} connections, {:.1} s measured after {:.1} s warm-up, client on {} tokio worker thread{}",
        opts.concurrency,
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64(),
        opts.client_threads,
        if opts.client_threads == 1 { "" } else { "s" }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<34}{:>14}{:>14}", "", "info (default)", "warn");
    let row = |out: &mut String, name: &str, f: &dyn Fn(&LevelRun) -> String| {
        let _ = writeln!(out, "{name:<34}{:>14}{:>14}", f(info), f(warn));
    };
    row(&mut out, "idle RSS (MiB)", &|r| {
        format!("{:.1}", r.idle_rss_mib)
    });
    row(&mut out, "  of which anon / file (MiB)", &|r| {
        format!("{:.1} / {:.1}", r.idle_rss_anon_mib, r.idle_rss_file_mib)
    });
    row(&mut out, "idle threads", &|r| r.idle_threads.to_string());
    row(&mut out, "sequential p50 (µs)", &|r| {
        format!("{:.0}", r.seq.lat.us(50.0))
    });
    row(&mut out, "sequential p90 (µs)", &|r| {
        format!("{:.0}", r.seq.lat.us(90.0))
    });
    row(&mut out, "sequential p99 (µs)", &|r| {
        format!("{:.0}", r.seq.lat.us(99.0))
    });
    row(&mut out, "sequential errors", &|r| {
        r.seq.errors.total().to_string()
    });
    row(&mut out, "  others meanwhile (cores busy)", &|r| {
        format!("{:.2}", r.seq_noise)
    });
    row(
        &mut out,
        &format!("throughput @{} (calls/s)", opts.concurrency),
        &|r| format!("{:.0}", r.load.calls_per_sec()),
    );
    row(&mut out, "load p50 (ms)", &|r| {
        format!("{:.2}", r.load.lat.ms(50.0))
    });
    row(&mut out, "load p99 (ms)", &|r| {
        format!("{:.2}", r.load.lat.ms(99.0))
    });
    row(&mut out, "load max (ms)", &|r| {
        format!("{:.2}", r.load.lat.ms(100.0))
    });
    row(&mut out, "load errors", &|r| {
        r.load.errors.total().to_string()
    });
    row(&mut out, "server CPU per call (ms)", &|r| {
        format!("{:.4}", r.load.server_cpu_ms_per_call())
    });
    row(&mut out, "server CPU (cores busy)", &|r| {
        format!("{:.2}", r.load.cores(r.load.server_cpu_s))
    });
    row(&mut out, "client CPU per call (ms)", &|r| {
        format!("{:.4}", r.load.client_cpu_ms_per_call())
    });
    row(&mut out, "client CPU (cores busy)", &|r| {
        format!("{:.2}", r.load.cores(r.load.client_cpu_s))
    });
    row(&mut out, "others meanwhile (cores busy)", &|r| {
        format!("{:.2}", r.load.cores(r.load.other_cpu_s))
    });
    row(&mut out, "RSS after load (MiB)", &|r| {
        format!("{:.1}", r.rss_after_mib)
    });
    row(&mut out, "peak RSS, VmHWM (MiB)", &|r| {
        format!("{:.1}", r.hwm_mib)
    });
    row(&mut out, "server log bytes per call", &|r| {
        format!("{:.0}", r.log_bytes_per_call)
    });

    let tput_gain = (warn.load.calls_per_sec() / info.load.calls_per_sec() - 1.0) * 100.0;
    let cpu_diff_us =
        (info.load.server_cpu_ms_per_call() - warn.load.server_cpu_ms_per_call()) * 1e3;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "logging cost (info vs warn)  : warn does {tput_gain:+.1}% calls/s; info costs {cpu_diff_us:+.1} µs server CPU per call ({:.0} log bytes per call)",
        info.log_bytes_per_call
    );
    if ticks_assumed {
        let _ = writeln!(
            out,
            "note: CLK_TCK assumed to be 100 (getconf CLK_TCK failed)"
        );
    }
    // Which measurements other processes disturbed (NaN: unknown, not flagged).
    let mut disturbed = Vec::new();
    if startup_noise > NOISY_OTHER_CORES {
        disturbed.push("start-up".to_owned());
    }
    for r in &runs {
        if r.seq_noise > NOISY_OTHER_CORES {
            disturbed.push(format!("sequential/{}", r.label));
        }
        if r.load.cores(r.load.other_cpu_s) > NOISY_OTHER_CORES {
            disturbed.push(format!("load/{}", r.label));
        }
    }
    let noisy = !disturbed.is_empty();
    if noisy {
        let _ = writeln!(
            out,
            "WARNING: other processes used more than {NOISY_OTHER_CORES} cores during: {}; \
             those numbers are not representative (rerun on a quiet machine, or use --wait-quiet S)",
            disturbed.join(", ")
        );
    }

    let checks = [
        (
            "calls_per_sec",
            info.load.calls_per_sec(),
            TARGET_CALLS_PER_SEC,
            true,
        ),
        ("p99_ms", info.load.lat.ms(99.0), TARGET_P99_MS, false),
        (
            "server_cpu_ms_per_call",
            info.load.server_cpu_ms_per_call(),
            TARGET_CPU_MS_PER_CALL,
            false,
        ),
        (
            "idle_rss_mib",
            info.idle_rss_mib,
            TARGET_IDLE_RSS_MIB,
            false,
        ),
        ("startup_ms", startup_median, TARGET_STARTUP_MS, false),
    ];
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "reference targets (default logging; informational, not the exit status):"
    );
    let mut targets = serde_json::Map::new();
    for (name, value, target, at_least) in checks {
        let met = if at_least {
            value >= target
        } else {
            value <= target
        };
        let _ = writeln!(
            out,
            "  {name:<24} {value:>10.3} {} {target:<8} {}",
            if at_least { ">=" } else { "<=" },
            if met { "met" } else { "MISSED" }
        );
        targets.insert(
            name.to_owned(),
            json!({ "value": round(value, 4), "target": target, "at_least": at_least, "met": met }),
        );
    }
    let _ = writeln!(out);
    if ok {
        let _ = writeln!(out, "result: OK (no failed calls)");
    } else {
        let _ = writeln!(out, "result: FAILED (some calls failed)");
        for r in &runs {
            if let Some(first) = r.seq.errors.first.as_ref().or(r.load.errors.first.as_ref()) {
                let _ = writeln!(out, "  [{}] first error: {first}", r.label);
            }
        }
    }
    print!("{out}");

    let run_json = |r: &LevelRun| {
        json!({
            "log_level": r.label,
            "idle_rss_mib": round(r.idle_rss_mib, 2),
            "idle_rss_anon_mib": round(r.idle_rss_anon_mib, 2),
            "idle_rss_file_mib": round(r.idle_rss_file_mib, 2),
            "idle_threads": r.idle_threads,
            "sequential": {
                "calls": r.seq.lat.0.len(),
                "p50_us": round(r.seq.lat.us(50.0), 1),
                "p90_us": round(r.seq.lat.us(90.0), 1),
                "p99_us": round(r.seq.lat.us(99.0), 1),
                "mean_us": round(r.seq.lat.mean_us(), 1),
                "max_us": round(r.seq.lat.us(100.0), 1),
                "errors": r.seq.errors.to_json(),
            },
            "load": {
                "concurrency": opts.concurrency,
                "duration_s": opts.duration.as_secs_f64(),
                "warmup_s": opts.warmup.as_secs_f64(),
                "client_threads": opts.client_threads,
                "calls": r.load.calls,
                "calls_including_warmup": r.load.total_calls,
                "calls_per_sec": round(r.load.calls_per_sec(), 1),
                "p50_ms": round(r.load.lat.ms(50.0), 3),
                "p90_ms": round(r.load.lat.ms(90.0), 3),
                "p99_ms": round(r.load.lat.ms(99.0), 3),
                "max_ms": round(r.load.lat.ms(100.0), 3),
                "errors": r.load.errors.to_json(),
                "server_cpu_s": round(r.load.server_cpu_s, 3),
                "server_cpu_ms_per_call": round(r.load.server_cpu_ms_per_call(), 4),
                "client_cpu_s": round(r.load.client_cpu_s, 3),
                "client_cpu_ms_per_call": round(r.load.client_cpu_ms_per_call(), 4),
                "other_processes_cpu_s": round(r.load.other_cpu_s, 3),
            },
            "rss_after_load_mib": round(r.rss_after_mib, 2),
            "peak_rss_mib": round(r.hwm_mib, 2),
            "log_bytes_per_call": round(r.log_bytes_per_call, 1),
            "load_attempts": r.load_attempts,
            "sequential_attempts": r.seq_attempts,
            "sequential_other_processes_cores": round(r.seq_noise, 3),
        })
    };
    let report = json!({
        "bench": "mcp_load",
        "ok": ok,
        "quick": opts.quick,
        "noisy_machine": noisy,
        "disturbed": disturbed,
        "binary": bin.display().to_string(),
        "database": opts.db.as_ref().map_or_else(|| "demo".to_owned(), |p| p.display().to_string()),
        "cpus": cpus,
        "clk_tck": ticks,
        "clk_tck_assumed": ticks_assumed,
        "workload": "tools/call run_query, 50 rows via idx_orders_order_date, stateless Streamable HTTP, HTTP/1.1 keep-alive",
        "startup_ms": {
            "runs": startup.len(),
            "other_processes_cores": round(startup_noise, 3),
            "median": round(startup_median, 3),
            "min": round(startup_min, 3),
            "max": round(startup_max, 3),
            "samples": startup.iter().map(|d| round(d.as_secs_f64() * 1e3, 3)).collect::<Vec<_>>(),
        },
        "info": run_json(info),
        "warn": run_json(warn),
        "logging_cost": {
            "warn_vs_info_calls_per_sec_pct": round(tput_gain, 2),
            "info_extra_server_cpu_us_per_call": round(cpu_diff_us, 2),
            "info_log_bytes_per_call": round(info.log_bytes_per_call, 1),
        },
        "targets": targets,
    });
    println!("BENCH_JSON {report}");
    Ok(ok)
}
