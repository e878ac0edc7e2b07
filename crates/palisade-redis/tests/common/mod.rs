//! Real Redis servers for the tests: each test starts its own `redis-server` on a free
//! loopback port (so it may stop, pause and restart it), and a 3-primary Redis Cluster when
//! asked. A missing `redis-server` fails the test: `.ci/run` installs Debian's package.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// A scratch directory for one server.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-redis-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("scratch dir {dir:?}: {e}"));
    dir
}

/// One `redis-server` process on a loopback port, killed when dropped.
pub struct RedisServer {
    pub port: u16,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
    /// The port answering plain-text PINGs (0 for a TLS-only server).
    plain_port: u16,
}

impl RedisServer {
    /// A server with no persistence on a free port.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A server with extra `redis-server` arguments (`["--requirepass", "pw"]`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let port = free_port();
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = RedisServer {
            port,
            args,
            dir: scratch(&port.to_string()),
            child: None,
            plain_port: port,
        };
        server.spawn();
        server
    }

    /// A TLS-only server (`--port 0`, `--tls-port`), with a CA and certificate made here.
    /// Returns the server and the CA certificate (PEM) a client must trust.
    pub fn start_tls() -> (RedisServer, String) {
        let port = free_port();
        let dir = scratch(&format!("tls-{port}"));
        let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap_or_else(|e| panic!("CA params: {e}"));
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "palisade test CA");
        let ca = ca_params
            .self_signed(&ca_key)
            .unwrap_or_else(|e| panic!("CA cert: {e}"));
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("server key: {e}"));
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap_or_else(|e| panic!("server params: {e}"));
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let cert = params
            .signed_by(&key, &issuer)
            .unwrap_or_else(|e| panic!("server cert: {e}"));
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            path.display().to_string()
        };
        let ca_pem = ca.pem();
        let ca_file = write("ca.pem", ca_pem.clone());
        let cert_file = write("server.pem", cert.pem());
        let key_file = write("server.key", key.serialize_pem());
        let args = vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--tls-cert-file".into(),
            cert_file,
            "--tls-key-file".into(),
            key_file,
            "--tls-ca-cert-file".into(),
            ca_file,
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        let mut server = RedisServer {
            port,
            args,
            dir,
            child: None,
            plain_port: 0,
        };
        server.spawn();
        (server, ca_pem)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it (`apt-get install redis-server`); \
                     .ci/run does"
                )
            });
        self.child = Some(child);
        self.wait_listening();
    }

    fn wait_listening(&self) {
        let start = Instant::now();
        loop {
            let ready = if self.plain_port == 0 {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                ping(self.plain_port)
            };
            if ready {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the server (SIGKILL: nothing is saved, as after a crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// SIGSTOP: the server keeps its connections but answers nothing.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .map(|c| c.id())
            .unwrap_or_else(|| panic!("not running"));
        let ok = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{signal} {pid} failed");
    }

    /// Runs a command through `redis-cli` and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("redis-cli: {e}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.resume_quietly();
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RedisServer {
    fn resume_quietly(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
    }
}

/// Whether a plain-text server on `port` answers PING.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    // `+PONG`, or `-NOAUTH` from a server with a password: either way it is listening.
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
}

/// A Redis Cluster of three primaries on loopback ports.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("redis-cli --cluster create: {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let start = Instant::now();
        while !nodes
            .iter()
            .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the cluster did not become ok"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        RedisCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// Waits (polling, at most `limit`) until `condition` holds; panics with `what` otherwise.
/// For conditions that hold within milliseconds normally: not a sleep.
pub async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Serializes the tests of one binary that time calls against a Redis outage: run side by
/// side on two cores, their servers, runtimes and backend threads compete for the CPU, and
/// the bounds they check (the Redis timeout, recovery within a second) are about Palisade,
/// not about that contention.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}
