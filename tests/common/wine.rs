//! The Windows build, `wakeproxy.exe`, run under Wine on this Linux host: for `tests/windows.rs`.
//!
//! What it takes (all measured on Debian 12, Wine 8.0):
//!
//! - **The exe**, built here with `cargo build --target x86_64-pc-windows-gnu --bin wakeproxy`
//!   into the same target directory as the Linux binary (a no-op when it is up to date), so the
//!   suite never runs a stale exe. `WAKEPROXY_WINDOWS_EXE` names another one instead.
//! - **A Wine prefix**, prepared once per test binary (`wineboot -i`, `winecfg -v win10`, then
//!   waiting for that wineserver to exit), plus `windows/wine/bcryptprimitives.c` built with
//!   MinGW into its `system32`: Rust's std imports `ProcessPrng` from `bcryptprimitives.dll`,
//!   which Wine before 9 lacks, and every Rust exe would fail to start (c0000135). Headless:
//!   no `DISPLAY`, `WINEDEBUG=-all`, and `wpcap.dll` hidden (`WINEDLLOVERRIDES`), because Wine's
//!   own aborts on `pcap_setmintocopy`; so the exe takes its "Npcap is not installed" path.
//! - **One prefix and one wineserver per Windows machine.** Wine creates a program's sockets in
//!   the *wineserver* (and lists interfaces in its `winedevice.exe`), not in the program's own
//!   process: whichever network namespace the wineserver was started in is the network of every
//!   program of that prefix, wherever the program itself runs. So each [`WinBox`] gets a clone
//!   of the prepared prefix (system DLLs hard-linked, everything Wine writes copied) and its own
//!   persistent wineserver, started inside the box's namespace. That also gives each box its
//!   own service manager, its own `\\.\pipe\wakeproxy` and its own `%ProgramData%`, so tests
//!   run in parallel.
//!
//! Everything is removed on drop, also when a test panics: the box's wineserver is killed
//! (`wineserver -k`: every Wine process of the prefix with it), its namespace and legs deleted,
//! its prefix removed; the prepared prefix goes when the test binary exits, and a run that was
//! killed is swept up by the next one.

#![allow(dead_code, unreachable_pub)]

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The Windows target the exe is built for.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// What every Wine process of the suite gets besides `WINEPREFIX`.
const WINE_ENV: [(&str, &str); 3] = [
    ("WINEDEBUG", "-all"),
    // No Mono or Gecko installer dialogs; Wine's own wpcap.dll hidden (see the module doc).
    ("WINEDLLOVERRIDES", "mscoree,mshtml=;wpcap="),
    ("WINEARCH", "win64"),
];

static NEXT: AtomicU32 = AtomicU32::new(0);

/// What the suite prepared once: the exe and the prepared prefix.
pub struct Wine {
    /// `wakeproxy.exe`.
    pub exe: PathBuf,
    /// This run's directory (the prepared prefix and every box's prefix live in it).
    base: PathBuf,
    /// The prepared prefix every box clones.
    template: PathBuf,
    /// How long preparing took: (building the exe, preparing the prefix).
    pub setup: (Duration, Duration),
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The prepared Wine, or `None` (with a message) when this machine cannot run the suite. Under
/// `CI=true` a missing precondition panics instead: CI installs everything, so it is a failure.
pub fn wine() -> Option<&'static Wine> {
    static WINE: OnceLock<Result<Wine, String>> = OnceLock::new();
    let result = WINE.get_or_init(prepare);
    match result {
        Ok(w) => Some(w),
        Err(why) if ci() => {
            panic!("{why}: CI installs Wine, MinGW and the Windows target, so this is a failure")
        }
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

fn prepare() -> Result<Wine, String> {
    // Root and `ip`, as for the lab: the Wine processes run in network namespaces.
    wakeproxy::lab::preconditions().map_err(|e| format!("the Windows suite: {e}"))?;
    for (cmd, arg, package) in [
        ("ip", "-V", "iproute2"),
        ("python3", "--version", "python3"),
        ("wine", "--version", "wine wine64"),
        ("wineserver", "--version", "wine64"),
        ("x86_64-w64-mingw32-gcc", "--version", "gcc-mingw-w64-x86-64"),
    ] {
        if !have(cmd, arg) {
            return Err(format!(
                "the Windows suite needs `{cmd}` (Debian: apt-get install --no-install-recommends {package})"
            ));
        }
    }
    sweep_stale_runs();
    let base = std::env::temp_dir().join(format!("wakeproxy-wine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    // The prepared prefix goes when the test binary exits (statics are never dropped), also
    // when it is killed: a watcher in a process group of its own waits for it to end, then
    // stops any wineserver left in the run's directory and removes the directory.
    Command::new("sh")
        .args([
            "-c",
            r#"while kill -0 "$0" 2>/dev/null; do sleep 0.5; done
               for p in "$1"/*/; do WINEPREFIX="$p" wineserver -k 2>/dev/null; done
               rm -rf "$1""#,
        ])
        .arg(std::process::id().to_string())
        .arg(&base)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("sh: {e}"))?;
    let template = base.join("template");
    // The exe and the prefix at once: one compiles, the other mostly waits for Wine.
    let t = Instant::now();
    let prefix = std::thread::spawn({
        let template = template.clone();
        move || {
            let t = Instant::now();
            prepare_prefix(&template).map(|()| t.elapsed())
        }
    });
    let exe = build_exe();
    let build = t.elapsed();
    let prefix = prefix.join().map_err(|_| "preparing the Wine prefix panicked".to_owned())?;
    let (exe, prefix) = (exe?, prefix?);
    eprintln!(
        "Windows suite: wakeproxy.exe ready in {:.1}s, Wine prefix in {:.1}s",
        build.as_secs_f64(),
        prefix.as_secs_f64()
    );
    Ok(Wine { exe, base, template, setup: (build, prefix) })
}

/// Removes what a killed earlier run left: its boxes' wineservers and its prefixes.
fn sweep_stale_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("wakeproxy-wine-").and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        for prefix in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
            let _ = Command::new("wineserver")
                .arg("-k")
                .env("WINEPREFIX", prefix.path())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// Builds `wakeproxy.exe` (a no-op if it is up to date) into the target directory of the
/// Linux binary under test, or takes `WAKEPROXY_WINDOWS_EXE`.
fn build_exe() -> Result<PathBuf, String> {
    if let Some(exe) = std::env::var_os("WAKEPROXY_WINDOWS_EXE") {
        let exe = PathBuf::from(exe);
        return if exe.is_file() {
            Ok(exe)
        } else {
            Err(format!("WAKEPROXY_WINDOWS_EXE={}: no such file", exe.display()))
        };
    }
    // target/debug/wakeproxy -> target: CARGO_TARGET_DIR or --target-dir, whatever it was.
    let linux = Path::new(env!("CARGO_BIN_EXE_wakeproxy"));
    let target_dir = linux.parent().and_then(Path::parent).ok_or("no target directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--target", TARGET, "--bin", "wakeproxy", "--target-dir"])
        .arg(target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(|e| format!("cannot run cargo to build wakeproxy.exe: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`cargo build --target {TARGET} --bin wakeproxy` failed (is the target installed? \
             `rustup target add {TARGET}`):\n{}",
            tail.join("\n")
        ));
    }
    let exe = target_dir.join(TARGET).join("debug").join("wakeproxy.exe");
    exe.is_file().then_some(exe.clone()).ok_or_else(|| format!("{} was not built", exe.display()))
}

/// A Wine command with the suite's environment and no display.
fn wine_command(prefix: &Path, program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("WINEPREFIX", prefix).envs(WINE_ENV).env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    c
}

fn checked(mut c: Command, what: &str) -> Result<Output, String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out)
}

/// `wineboot -i`, `winecfg -v win10`, wait for that wineserver to exit, then the shim DLL.
/// Runs in an empty network namespace of its own: preparing touches no network.
fn prepare_prefix(template: &Path) -> Result<(), String> {
    let ns = format!("wpwine{}prep", std::process::id());
    let _ = Command::new("ip").args(["netns", "del", &ns]).stderr(Stdio::null()).status();
    checked(
        {
            let mut c = Command::new("ip");
            c.args(["netns", "add", &ns]);
            c
        },
        "ip netns add",
    )?;
    // Each step within 2 minutes (they take seconds): a Wine that hangs while it prepares (seen
    // once here, wineboot waiting forever) fails the run instead of stalling it.
    let in_ns = |program: &str, args: &[&str]| {
        let mut c = wine_command(template, "ip");
        c.args(["netns", "exec", &ns, "timeout", "120", program]).args(args).stdin(Stdio::null());
        c
    };
    let result = (|| {
        checked(in_ns("wine", &["wineboot", "-i"]), "wineboot -i")?;
        checked(in_ns("wine", &["winecfg", "-v", "win10"]), "winecfg -v win10")?;
        // Only once this wineserver is gone may another start: otherwise two service managers
        // appear, and installs and starts talk to different ones.
        checked(in_ns("wineserver", &["-w"]), "wineserver -w")?;
        let dll = template.join("drive_c/windows/system32/bcryptprimitives.dll");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("windows/wine/bcryptprimitives.c");
        let mut gcc = Command::new("x86_64-w64-mingw32-gcc");
        gcc.args(["-shared", "-O2", "-o"]).arg(&dll).arg(&src).arg("-ladvapi32");
        checked(gcc, "building windows/wine/bcryptprimitives.c with MinGW").map(drop)
    })();
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    result
}

/// Copies the prepared prefix: the system binaries under `drive_c/windows` (hundreds of MB,
/// which Wine only reads) as hard links, everything else (the registry, `win.ini`, anything
/// Wine may rewrite in place) as copies.
fn clone_prefix(from: &Path, to: &Path, in_windows: bool) -> std::io::Result<()> {
    const READ_ONLY: [&str; 11] =
        ["dll", "exe", "sys", "drv", "nls", "tlb", "ocx", "cpl", "acm", "ax", "ds"];
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            let windows = in_windows || (from.ends_with("drive_c") && e.file_name() == "windows");
            clone_prefix(&src, &dst, windows)?;
        } else if in_windows
            && src.extension().is_some_and(|x| {
                READ_ONLY.contains(&x.to_string_lossy().to_ascii_lowercase().as_str())
            })
        {
            std::fs::hard_link(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// A Windows machine on this host: a network namespace whose interfaces are the machine's
/// adapters, with a Wine prefix and a wineserver of its own living in it.
pub struct WinBox {
    /// Its namespace.
    pub ns: String,
    /// Its Wine prefix.
    pub prefix: PathBuf,
    /// A directory for the test's files (configs, keys, state, logs), also seen from Windows
    /// (as `Z:\…`: [`win`]).
    pub dir: PathBuf,
    /// `wakeproxy.exe`.
    pub exe: PathBuf,
    /// Namespaces it made besides its own (the far ends of a standalone box).
    others: Vec<String>,
    /// Its legs' names in the root namespace, while they are being made (cleanup).
    legs: Vec<String>,
    /// Processes it started that must not outlive it.
    children: Vec<Child>,
}

/// Where one adapter of a [`WinBox`] is plugged in.
pub enum Plug<'a> {
    /// A port of bridge `bridge` in namespace `switch` (a lab's `<lab>-sw`, `br0`…).
    Bridge {
        /// The switch's namespace.
        switch: &'a str,
        /// The bridge.
        bridge: &'a str,
    },
    /// A namespace of its own (made here, removed with the box), whose `eth0` gets `addr`.
    Host {
        /// The far end's namespace.
        ns: &'a str,
        /// Its address, `a.b.c.d/len`.
        addr: &'a str,
    },
}

/// One adapter of a [`WinBox`].
pub struct Adapter<'a> {
    /// Its Linux name inside the box (Wine's friendly name for it).
    pub name: &'a str,
    /// Its address, `a.b.c.d/len`.
    pub addr: &'a str,
    /// Its MAC.
    pub mac: &'a str,
    /// Where it is plugged in.
    pub plug: Plug<'a>,
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().expect(args[0]);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl WinBox {
    /// A box in namespace `ns` with `adapters`, its own Wine prefix, and its wineserver running
    /// in `ns`.
    pub fn new(wine: &Wine, ns: &str, adapters: &[Adapter<'_>]) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let prefix = wine.base.join(format!("box{n}"));
        // Not under the run's directory: on a failure they are kept for inspection.
        let dir = std::env::temp_dir().join(format!("wakeproxy-winbox-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
        let mut b = Self {
            ns: ns.to_owned(),
            prefix,
            dir,
            exe: wine.exe.clone(),
            others: Vec::new(),
            legs: Vec::new(),
            children: Vec::new(),
        };
        sh(&["ip", "netns", "add", ns]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        for (i, a) in adapters.iter().enumerate() {
            let (x, y) = (
                format!("wpw{}x{n}a{i}", std::process::id() % 10_000),
                format!("wpw{}x{n}b{i}", std::process::id() % 10_000),
            );
            b.legs.extend([x.clone(), y.clone()]);
            sh(&["ip", "link", "add", &x, "type", "veth", "peer", "name", &y]);
            sh(&["ip", "link", "set", &x, "netns", ns]);
            sh(&["ip", "-n", ns, "link", "set", &x, "name", a.name]);
            sh(&["ip", "-n", ns, "link", "set", a.name, "address", a.mac]);
            sh(&["ip", "-n", ns, "addr", "add", a.addr, "broadcast", "+", "dev", a.name]);
            match a.plug {
                Plug::Bridge { switch, bridge } => {
                    sh(&["ip", "link", "set", &y, "netns", switch]);
                    sh(&["ip", "-n", switch, "link", "set", &y, "master", bridge]);
                    sh(&["ip", "-n", switch, "link", "set", &y, "up"]);
                }
                Plug::Host { ns: far, addr } => {
                    let _ = Command::new("ip")
                        .args(["netns", "del", far])
                        .stderr(Stdio::null())
                        .status();
                    sh(&["ip", "netns", "add", far]);
                    b.others.push(far.to_owned());
                    sh(&["ip", "-n", far, "link", "set", "lo", "up"]);
                    sh(&["ip", "link", "set", &y, "netns", far]);
                    sh(&["ip", "-n", far, "link", "set", &y, "name", "eth0"]);
                    sh(&["ip", "-n", far, "addr", "add", addr, "broadcast", "+", "dev", "eth0"]);
                    sh(&["ip", "-n", far, "link", "set", "eth0", "up"]);
                }
            }
            sh(&["ip", "-n", ns, "link", "set", a.name, "up"]);
        }
        clone_prefix(&wine.template, &b.prefix, false)
            .unwrap_or_else(|e| panic!("cloning the Wine prefix: {e}"));
        // The box's wineserver, persistent (Wine keeps services only while one lives), in the
        // box's namespace: every socket of every program of this prefix is made there.
        // Its standard handles go nowhere: the server daemonizes, and would hold a pipe open.
        let ok = wine_command(&b.prefix, "ip")
            .args(["netns", "exec", ns, "wineserver", "-p"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("wineserver");
        assert!(ok.success(), "wineserver -p failed in {ns}");
        // The first program of a prefix starts Wine's system processes (services.exe, the
        // device drivers) for the session, with its own standard handles: with a pipe there,
        // reading a command's output would wait until the box ends. So the first is this one,
        // with none.
        let ok = b
            .cmd(&["--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("wine wakeproxy.exe");
        assert!(ok.success(), "wakeproxy.exe --version does not start under Wine");
        b
    }

    /// `wakeproxy.exe ARGS` on this box (not started).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = wine_command(&self.prefix, "ip");
        c.args(["netns", "exec", &self.ns, "wine"]).arg(&self.exe).args(args).stdin(Stdio::null());
        c
    }

    /// Runs `wakeproxy.exe ARGS` on this box.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("wine wakeproxy.exe")
    }

    /// Runs `wakeproxy.exe ARGS`, expecting success; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "wakeproxy.exe {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Any other program of the box (`reg`, …), as Wine runs it.
    pub fn wine_program(&self, program: &str, args: &[&str]) -> Output {
        wine_command(&self.prefix, "ip")
            .args(["netns", "exec", &self.ns, "wine", program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("wine")
    }

    /// A Linux command in the box's namespace (its network, without Wine).
    pub fn linux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(args);
        c
    }

    /// Starts `wakeproxy.exe run --config CONFIG` (debug log to `<dir>/daemon.log`).
    pub fn start_daemon(&mut self, config: &Path) -> u32 {
        let log = std::fs::File::create(self.dir.join("daemon.log")).unwrap();
        let child = self
            .cmd(&["run", "--config", &win(config)])
            .env("RUST_LOG", "wakeproxy=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("wine wakeproxy.exe run");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// The daemon `start_daemon` started with `pid`, if it is still running; its exit status if
    /// it ended.
    pub fn daemon_exit(&mut self, pid: u32) -> Option<std::process::ExitStatus> {
        let c = self.children.iter_mut().find(|c| c.id() == pid)?;
        c.try_wait().ok().flatten()
    }

    /// Waits at most `limit` for the daemon `pid` to end; its exit status.
    pub fn wait_daemon(&mut self, pid: u32, limit: Duration) -> Option<std::process::ExitStatus> {
        super::wait_for(limit, || self.daemon_exit(pid))
    }

    /// The daemon's log, for a failure message: its last 60 lines, without the debug lines
    /// each polled `status` adds.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> =
            text.lines().filter(|l| !l.contains("DEBUG control request")).collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Starts `wakeproxy.exe ARGS` with its standard output read line by line.
    pub fn follow(&mut self, args: &[&str]) -> Lines {
        let mut child =
            self.cmd(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("wine");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.children.push(child);
        Lines { rx, seen: Vec::new() }
    }
}

/// Lines a program printed, as they come.
pub struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    /// Every line so far.
    pub seen: Vec<String>,
}

impl Lines {
    /// Waits at most `limit` for a line that `want` accepts; it, or `None`.
    pub fn until(&mut self, limit: Duration, want: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for WinBox {
    fn drop(&mut self) {
        // Every Wine process of the prefix (daemons, services, `events --follow`) goes with its
        // wineserver.
        let _ = wine_command(&self.prefix, "wineserver").arg("-k").stderr(Stdio::null()).status();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = wine_command(&self.prefix, "wineserver").arg("-w").stderr(Stdio::null()).status();
        for ns in std::iter::once(&self.ns).chain(&self.others) {
            let pids = Command::new("ip").args(["netns", "pids", ns]).output();
            for pid in pids
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
                .split_whitespace()
            {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
        }
        for leg in &self.legs {
            let _ = Command::new("ip").args(["link", "del", leg]).stderr(Stdio::null()).output();
        }
        let _ = std::fs::remove_dir_all(&self.prefix);
        if std::thread::panicking() {
            eprintln!("Windows box files kept in {} for inspection", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `path` as Windows programs under Wine see it: `Z:` is `/`.
pub fn win(path: &Path) -> String {
    format!("Z:{}", path.display().to_string().replace('/', "\\"))
}
