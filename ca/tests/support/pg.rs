//! A private, throw-away PostgreSQL cluster for tests.
//!
//! Installs nothing: it looks for the Debian server binaries (`/usr/lib/postgresql/*/bin`,
//! highest version first, or the directory named by `IGC_PG_BIN`), creates a cluster in a
//! temporary directory owned by the `postgres` user (`initdb` and `pg_ctl` refuse to run as
//! root, so when we are root they run through `runuser -u postgres --`), listens on
//! 127.0.0.1 only, on a free port, with its unix socket in the temporary directory, and is
//! stopped and removed when the [`PgCluster`] is dropped.
//!
//! [`PgCluster::start`] returns `Ok(None)` only when `IGC_SKIP_PG=1`; a missing PostgreSQL is
//! an error, so that test suites fail rather than silently skip.

#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bound on any one PostgreSQL command (initdb, start, stop, createdb).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on waiting for the server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Run server commands through `runuser -u postgres --` (we are root).
    as_postgres: bool,
    running: bool,
}

fn skip_requested() -> bool {
    std::env::var("IGC_SKIP_PG").is_ok_and(|v| v == "1")
}

/// The highest-versioned `/usr/lib/postgresql/<version>/bin` with `initdb` and `pg_ctl`.
pub fn find_bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("IGC_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return Ok(dir);
        }
        return Err(format!("IGC_PG_BIN={} has no initdb/pg_ctl", dir.display()));
    }
    let root = Path::new("/usr/lib/postgresql");
    let entries = std::fs::read_dir(root).map_err(|e| {
        format!(
            "PostgreSQL server binaries not found ({}: {e}); install them with \
             `apt-get install -y postgresql`, or set IGC_SKIP_PG=1 to skip the PostgreSQL tests",
            root.display()
        )
    })?;
    let mut candidates: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version: Vec<u32> = e
                .file_name()
                .to_str()?
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, bin)| bin).ok_or_else(|| {
        format!(
            "no PostgreSQL server under {}/*/bin; install it with `apt-get install -y postgresql`, \
             or set IGC_SKIP_PG=1 to skip the PostgreSQL tests",
            root.display()
        )
    })
}

fn command_output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn is_root() -> Result<bool, String> {
    Ok(command_output("id", &["-u"])? == "0")
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

impl PgCluster {
    /// Creates and starts a cluster. `Ok(None)` when `IGC_SKIP_PG=1`.
    pub fn start() -> Result<Option<PgCluster>, String> {
        if skip_requested() {
            return Ok(None);
        }
        let bin = find_bin_dir()?;
        let as_postgres = is_root()?;
        // /tmp explicitly: the postgres user must be able to reach the directory.
        let dir = tempfile::Builder::new()
            .prefix("igc-pg-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temp dir: {e}"))?;
        if as_postgres {
            let uid: u32 = command_output("id", &["-u", "postgres"])?
                .parse()
                .map_err(|e| format!("uid of postgres: {e}"))?;
            let gid: u32 = command_output("id", &["-g", "postgres"])?
                .parse()
                .map_err(|e| format!("gid of postgres: {e}"))?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.path().display()))?;
        }
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            as_postgres,
            running: false,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        // The port is free when picked but could be taken before the server binds it: retry.
        let mut last_err = String::new();
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.start_server() {
                Ok(()) => {
                    cluster.running = true;
                    cluster.wait_ready()?;
                    return Ok(Some(cluster));
                }
                Err(e) => last_err = e,
            }
        }
        Err(format!("PostgreSQL did not start: {last_err}"))
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn start_server(&self) -> Result<(), String> {
        let socket_dir = self.dir.path().display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={socket_dir} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let timeout = READY_TIMEOUT.as_secs().to_string();
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", &timeout, "start",
            ],
        )
        .map_err(|e| format!("{e}\nserver log:\n{}", self.server_log()))
    }

    /// Polls the TCP port until the server accepts connections (bounded).
    fn wait_ready(&self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "PostgreSQL not accepting connections on {addr} after {READY_TIMEOUT:?}\n{}",
            self.server_log()
        ))
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        let port = self.port.to_string();
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name],
        )?;
        Ok(self.url(name))
    }

    /// Runs a server binary as the cluster's owner, bounded by [`COMMAND_TIMEOUT`]; its
    /// output goes to a file in the cluster directory and is returned on failure.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program).display().to_string();
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &exe]);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args);
        let out_path = self.dir.path().join(format!("{program}.out"));
        let out = File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
        let err = out.try_clone().map_err(|e| format!("dup: {e}"))?;
        let mut child = cmd
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{program}: {e}"))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            match child.try_wait().map_err(|e| format!("{program}: {e}"))? {
                Some(status) => break status,
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{program} timed out after {COMMAND_TIMEOUT:?}"));
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {args:?} failed ({status}):\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            ))
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            if let Err(e) = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]) {
                eprintln!("stopping the test PostgreSQL cluster: {e}");
            }
        }
        // The TempDir removes the cluster directory when it drops, right after this.
    }
}
