//! The sandbox that runs untrusted Python programs for code suites
//! (HumanEval-style items: prompt + completion + tests + `check(entry_point)`).
//!
//! Every run gets a fresh temporary directory as its working directory (removed
//! afterwards), an empty environment (nothing of the caller's is inherited, so no
//! tokens or keys leak in), `python3 -I -S -B` (no user site, no site-packages,
//! no `PYTHON*` variables, no bytecode written), a new session whose whole
//! process group is killed at the wall-clock limit, and resource limits:
//! `RLIMIT_CPU` (CPU seconds), `RLIMIT_AS` (address space), `RLIMIT_FSIZE`
//! (largest file it may write), `RLIMIT_CORE` 0 and, when the run is
//! unprivileged, `RLIMIT_NPROC`.
//!
//! On top of that the strongest [`Isolation`] the machine allows is used,
//! probed once per process:
//!
//! - [`Isolation::Namespaces`]: a new network namespace (only a loopback
//!   interface that is down: no connection to anything, not even to this
//!   machine's own 127.0.0.1) and a new mount namespace in which the whole file
//!   system is read-only except the run's own directory. As root, the program
//!   also runs as `nobody` (65534) with no capabilities; as another user it runs
//!   in a new user namespace mapped to that same user, so it has no
//!   capabilities after `exec` and cannot remount anything writable.
//!   `no_new_privs` is set either way.
//! - [`Isolation::NetworkOnly`]: the network namespace (and, as root, `nobody`)
//!   without the read-only file system, where mount-attribute changes are not
//!   available (kernels before 5.12).
//! - [`Isolation::ProcessOnly`]: where no namespace can be created (a container
//!   without user namespaces, seccomp-restricted CI). Only the limits, the
//!   empty environment, the temporary directory and, as root, `nobody`; the
//!   network is blocked inside Python (the `socket` module's constructors raise
//!   and `_socket` cannot be imported again), which stops test code that reaches
//!   for the network by accident but is *not* a security boundary against code
//!   written to escape (ctypes can still make system calls).
//!
//! What no level does: hide the readable parts of the file system (the program
//! can read what `nobody`, or the calling user, can read), filter system calls,
//! or follow a process that leaves the session with `setsid()` and daemonises;
//! such a process keeps the CPU and memory limits and, unprivileged, dies with
//! its network namespace's last user only when it exits.
//!
//! The outcome is [`RunOutcome::Passed`] (exit status 0), [`RunOutcome::Failed`]
//! with the tail of stderr, [`RunOutcome::TimedOut`] (CPU or wall limit) or
//! [`RunOutcome::OutOfMemory`] (the address-space limit: Python's
//! `MemoryError`, or a fatal allocation failure).

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::code::{CodeExecutor, Limits, Outcome};

/// How much of stderr a failed run reports.
const STDERR_TAIL_BYTES: u64 = 2048;
/// The unprivileged user and group a run as root switches to.
const NOBODY: u32 = 65534;
/// Processes (threads included) an unprivileged run may have at once.
const MAX_PROCESSES: u64 = 64;
/// Open files a run may have at once.
const MAX_OPEN_FILES: u64 = 256;

/// Resource limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// CPU time (`RLIMIT_CPU`, whole seconds, rounded up).
    pub cpu: Duration,
    /// Wall-clock time, after which the whole process group is killed.
    pub wall: Duration,
    /// Address space (`RLIMIT_AS`) in bytes.
    pub memory_bytes: u64,
    /// The largest file the program may write (`RLIMIT_FSIZE`) in bytes.
    pub file_size_bytes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            cpu: Duration::from_secs(10),
            wall: Duration::from_secs(20),
            memory_bytes: 512 << 20,
            file_size_bytes: 16 << 20,
        }
    }
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The program exited with status 0.
    Passed,
    /// Any other end that is not a limit: a failed assertion, an exception, a
    /// non-zero exit, a signal, the file-size limit. `stderr_tail` is the end
    /// of what the program wrote to stderr (with a line saying how it ended
    /// when that is not an exit status).
    Failed { stderr_tail: String },
    /// Killed at the CPU-time or the wall-clock limit.
    TimedOut,
    /// Ran out of its address-space limit.
    OutOfMemory,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        matches!(self, RunOutcome::Passed)
    }
}

/// What separates a run from the machine; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isolation {
    /// Limits, empty environment, temporary directory, a Python-level socket
    /// block; as root also the `nobody` user.
    ProcessOnly,
    /// As `ProcessOnly` plus a network namespace without any usable interface.
    NetworkOnly,
    /// As `NetworkOnly` plus a mount namespace in which everything but the
    /// run's directory is read-only, and no capabilities.
    Namespaces,
}

impl Isolation {
    /// A short name for logs and attestations.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::ProcessOnly => "process-only",
            Isolation::NetworkOnly => "network-namespace",
            Isolation::Namespaces => "namespaces",
        }
    }
}

/// Failures to *run* a program at all (not failures of the program).
#[derive(Debug)]
pub enum SandboxError {
    /// No Python interpreter was found.
    NoPython(String),
    /// Creating, writing or removing the run's files, or starting the process.
    Io { what: String, source: io::Error },
}

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxError::NoPython(msg) => f.write_str(msg),
            SandboxError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for SandboxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SandboxError::NoPython(_) => None,
            SandboxError::Io { source, .. } => Some(source),
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// Runs Python programs in a sandbox. Cheap to clone; safe to use from many
/// threads at once (each run has its own directory and process group).
#[derive(Debug, Clone)]
pub struct Sandbox {
    python: PathBuf,
    isolation: Isolation,
    temp_root: PathBuf,
}

impl Sandbox {
    /// A sandbox with `python3` from `PATH` and the strongest isolation this
    /// machine allows (probed once per process and interpreter).
    pub fn new() -> Result<Sandbox, SandboxError> {
        let python = find_python()?;
        let isolation = probe(&python)?;
        Ok(Sandbox {
            python,
            isolation,
            temp_root: std::env::temp_dir(),
        })
    }

    /// A sandbox with a given interpreter and isolation level, used as is
    /// (a level the machine cannot give makes every run fail to start).
    pub fn with(python: PathBuf, isolation: Isolation) -> Sandbox {
        Sandbox {
            python,
            isolation,
            temp_root: std::env::temp_dir(),
        }
    }

    /// Put the runs' temporary directories under `dir` instead of `$TMPDIR`.
    pub fn temp_root(mut self, dir: impl Into<PathBuf>) -> Sandbox {
        self.temp_root = dir.into();
        self
    }

    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Run `program` (Python source) under `limits`.
    pub fn execute(
        &self,
        program: &str,
        limits: &SandboxLimits,
    ) -> Result<RunOutcome, SandboxError> {
        let dirs = RunDirs::create(&self.temp_root)?;
        let result = self.run_in(&dirs, program, limits);
        let removed = dirs.remove();
        let outcome = result?;
        removed?;
        Ok(outcome)
    }

    fn run_in(
        &self,
        dirs: &RunDirs,
        program: &str,
        limits: &SandboxLimits,
    ) -> Result<RunOutcome, SandboxError> {
        let as_root = is_root();
        let program_path = dirs.work.join("program.py");
        fs::write(&program_path, program)
            .map_err(io_err(format!("writing {}", program_path.display())))?;
        if as_root {
            chown(&dirs.work, NOBODY, NOBODY)?;
            chown(&program_path, NOBODY, NOBODY)?;
        }
        let stdout_path = dirs.root.join("stdout");
        let stderr_path = dirs.root.join("stderr");
        let stdout = File::create(&stdout_path)
            .map_err(io_err(format!("creating {}", stdout_path.display())))?;
        let stderr = File::create(&stderr_path)
            .map_err(io_err(format!("creating {}", stderr_path.display())))?;

        let mut cmd = Command::new(&self.python);
        cmd.arg("-I").arg("-S").arg("-B");
        if self.isolation == Isolation::ProcessOnly {
            cmd.arg("-c").arg(format!("{SOCKET_BLOCK}{RUNNER}"));
        } else {
            cmd.arg("-c").arg(RUNNER);
        }
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &dirs.work)
            .env("TMPDIR", &dirs.work)
            .env("LANG", "C.UTF-8")
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&dirs.work)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let plan = ChildPlan::new(self.isolation, as_root, &dirs.work, limits)?;
        // SAFETY: the closure only makes system calls (no allocation, no
        // locks): everything it needs was prepared in `plan` before the fork.
        unsafe {
            cmd.pre_exec(move || plan.apply());
        }

        let started = Instant::now();
        let mut child = cmd.spawn().map_err(io_err(format!(
            "starting {} in the sandbox ({})",
            self.python.display(),
            self.isolation.as_str()
        )))?;
        let pgid = child.id() as libc::pid_t;
        let mut pause = Duration::from_millis(1);
        let mut killed_at_wall = false;
        let status = loop {
            match child
                .try_wait()
                .map_err(io_err("waiting for the sandboxed program"))?
            {
                Some(status) => break status,
                None if started.elapsed() >= limits.wall => {
                    kill_group(pgid);
                    killed_at_wall = true;
                    break child
                        .wait()
                        .map_err(io_err("waiting for the killed program"))?;
                }
                None => {
                    let left = limits.wall.saturating_sub(started.elapsed());
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        };
        // Whatever it left running in its group goes with it.
        kill_group(pgid);

        let stderr_tail = read_tail(&stderr_path, STDERR_TAIL_BYTES)?;
        Ok(classify(status, killed_at_wall, stderr_tail))
    }
}

/// What Python runs (`-c`): `program.py` compiled under its bare name, so that
/// tracebacks read the same in every run whatever the temporary directory was.
const RUNNER: &str = r#"with open("program.py", encoding="utf-8") as _f:
    _code = compile(_f.read(), "program.py", "exec")
del _f
exec(_code, {"__name__": "__main__", "__builtins__": __builtins__})
"#;

/// Put before [`RUNNER`] at [`Isolation::ProcessOnly`]: the socket API raises
/// and `_socket` cannot be imported again.
const SOCKET_BLOCK: &str = r#"import sys, socket as _s
def _no_network(*args, **kwargs):
    raise OSError(101, "network access is disabled in the commons sandbox")
for _n in ("socket", "socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo", "gethostbyname"):
    setattr(_s, _n, _no_network)
sys.modules["_socket"] = None
del sys, _s, _n, _no_network
"#;

fn classify(status: ExitStatus, killed_at_wall: bool, mut stderr_tail: String) -> RunOutcome {
    if killed_at_wall {
        return RunOutcome::TimedOut;
    }
    if status.success() {
        return RunOutcome::Passed;
    }
    if let Some(signal) = status.signal() {
        match signal {
            // RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one.
            libc::SIGXCPU | libc::SIGKILL => return RunOutcome::TimedOut,
            libc::SIGXFSZ => {
                push_line(
                    &mut stderr_tail,
                    "killed: the file-size limit was exceeded (SIGXFSZ)",
                );
                return RunOutcome::Failed { stderr_tail };
            }
            _ => {
                if out_of_memory(&stderr_tail) {
                    return RunOutcome::OutOfMemory;
                }
                push_line(&mut stderr_tail, &format!("killed by signal {signal}"));
                return RunOutcome::Failed { stderr_tail };
            }
        }
    }
    if out_of_memory(&stderr_tail) {
        return RunOutcome::OutOfMemory;
    }
    if stderr_tail.trim().is_empty() {
        stderr_tail = format!("exited with status {}", status.code().unwrap_or(-1));
    }
    RunOutcome::Failed { stderr_tail }
}

fn push_line(text: &mut String, line: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
}

/// Whether stderr ends the way Python ends at its memory limit: the last line
/// of the traceback is a `MemoryError`, or the interpreter died allocating.
fn out_of_memory(stderr_tail: &str) -> bool {
    let last = stderr_tail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    last.starts_with("MemoryError")
        || stderr_tail.contains("Fatal Python error: Cannot allocate memory")
        || stderr_tail.contains("Fatal Python error: _PyMem")
        || stderr_tail.contains("Could not allocate memory")
}

fn kill_group(pgid: libc::pid_t) {
    // SAFETY: plain system call; the group is the child's own session.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

fn read_tail(path: &Path, max: u64) -> Result<String, SandboxError> {
    let mut file = File::open(path).map_err(io_err(format!("reading {}", path.display())))?;
    let len = file
        .metadata()
        .map_err(io_err(format!("reading {}", path.display())))?
        .len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start))
        .map_err(io_err(format!("reading {}", path.display())))?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    file.read_to_end(&mut bytes)
        .map_err(io_err(format!("reading {}", path.display())))?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // Start at a line boundary so the tail does not open mid-line.
        if let Some(nl) = text.find('\n') {
            text.drain(..=nl);
        }
        text.insert_str(0, "…\n");
    }
    Ok(text)
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), SandboxError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(io_err(format!("chown {}", path.display())))
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString, SandboxError> {
    CString::new(bytes).map_err(|_| SandboxError::Io {
        what: what.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "contains a NUL byte"),
    })
}

/// The interpreter for the runs: `$COMMONS_SANDBOX_PYTHON`, else the system's
/// `python3` (`/usr/bin`, `/usr/local/bin`: readable by `nobody`, unlike a
/// per-user install under a home directory), else `python3` on `PATH`.
fn find_python() -> Result<PathBuf, SandboxError> {
    if let Some(python) = std::env::var_os("COMMONS_SANDBOX_PYTHON").filter(|p| !p.is_empty()) {
        let python = PathBuf::from(python);
        return if is_executable(&python) {
            Ok(python)
        } else {
            Err(SandboxError::NoPython(format!(
                "COMMONS_SANDBOX_PYTHON is {}, which is not an executable file",
                python.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates = [
        PathBuf::from("/usr/bin/python3"),
        PathBuf::from("/usr/local/bin/python3"),
    ]
    .into_iter()
    .chain(std::env::split_paths(&path).map(|dir| dir.join("python3")));
    for candidate in candidates {
        if candidate.is_absolute() && is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(SandboxError::NoPython(
        "python3 was not found (in /usr/bin, /usr/local/bin or on PATH); code suites run their tests with it: install python3 or set COMMONS_SANDBOX_PYTHON".to_string(),
    ))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The strongest isolation under which `python -c pass` runs here; probed once
/// per interpreter and cached for the process.
fn probe(python: &Path) -> Result<Isolation, SandboxError> {
    static PROBED: OnceLock<std::sync::Mutex<Vec<(PathBuf, Isolation)>>> = OnceLock::new();
    let cache = PROBED.get_or_init(Default::default);
    if let Some((_, level)) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(p, _)| p == python)
    {
        return Ok(*level);
    }
    let limits = SandboxLimits {
        cpu: Duration::from_secs(5),
        wall: Duration::from_secs(10),
        ..Default::default()
    };
    let mut last = None;
    let mut chosen = None;
    for level in [
        Isolation::Namespaces,
        Isolation::NetworkOnly,
        Isolation::ProcessOnly,
    ] {
        match Sandbox::with(python.to_path_buf(), level).execute("pass\n", &limits) {
            Ok(RunOutcome::Passed) => {
                chosen = Some(level);
                break;
            }
            other => last = Some(other),
        }
    }
    let Some(chosen) = chosen else {
        let why = match last {
            Some(Ok(outcome)) => format!("{outcome:?}"),
            Some(Err(e)) => e.to_string(),
            None => String::new(),
        };
        let who = if is_root() {
            "the user nobody"
        } else {
            "this user"
        };
        return Err(SandboxError::NoPython(format!(
            "{} does not run in the sandbox ({why}); it must be executable by {who}: install the system python3 or set COMMONS_SANDBOX_PYTHON",
            python.display()
        )));
    };
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((python.to_path_buf(), chosen));
    Ok(chosen)
}

/// A run's directories: `root` (0700 for the runner, holds stdout/stderr) and
/// `root/work` (the program's working directory, the only writable place at
/// [`Isolation::Namespaces`]).
struct RunDirs {
    root: PathBuf,
    work: PathBuf,
}

impl RunDirs {
    fn create(temp_root: &Path) -> Result<RunDirs, SandboxError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut attempt = 0;
        loop {
            let name = format!(
                "commons-sandbox-{}-{}-{:08x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                nanos
            );
            let root = temp_root.join(name);
            // 0711: a run as `nobody` may pass through to work/ but not list
            // or read its stdout/stderr files.
            match fs::DirBuilder::new().mode(0o711).create(&root) {
                Ok(()) => {
                    let work = root.join("work");
                    let dirs = RunDirs { root, work };
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&dirs.work)
                        .map_err(io_err(format!("creating {}", dirs.work.display())))?;
                    // The mode is subject to umask; make sure of it.
                    fs::set_permissions(&dirs.root, fs::Permissions::from_mode(0o711))
                        .map_err(io_err(format!("chmod {}", dirs.root.display())))?;
                    return Ok(dirs);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
                Err(e) => {
                    return Err(io_err(format!(
                        "creating a directory under {}",
                        temp_root.display()
                    ))(e))
                }
            }
        }
    }

    /// Remove everything, even what the program made unreadable or unwritable.
    fn remove(&self) -> Result<(), SandboxError> {
        if fs::remove_dir_all(&self.root).is_ok() || !self.root.exists() {
            return Ok(());
        }
        make_removable(&self.root);
        fs::remove_dir_all(&self.root).map_err(io_err(format!("removing {}", self.root.display())))
    }
}

fn make_removable(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                make_removable(&entry.path());
            }
        }
    }
}

/// Everything the child does between `fork` and `exec`, prepared beforehand
/// so that [`ChildPlan::apply`] makes system calls only.
struct ChildPlan {
    isolation: Isolation,
    as_root: bool,
    work: CString,
    root_dir: CString,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    rlimits: Vec<(libc::__rlimit_resource_t, u64, u64)>,
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

impl ChildPlan {
    fn new(
        isolation: Isolation,
        as_root: bool,
        work: &Path,
        limits: &SandboxLimits,
    ) -> Result<ChildPlan, SandboxError> {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let cpu = limits.cpu.as_secs() + u64::from(limits.cpu.subsec_nanos() > 0);
        let cpu = cpu.max(1);
        let mut rlimits = vec![
            // SIGXCPU at the soft limit, SIGKILL one second later.
            (libc::RLIMIT_CPU, cpu, cpu + 1),
            (libc::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
            (
                libc::RLIMIT_FSIZE,
                limits.file_size_bytes,
                limits.file_size_bytes,
            ),
            (libc::RLIMIT_CORE, 0, 0),
            (libc::RLIMIT_NOFILE, MAX_OPEN_FILES, MAX_OPEN_FILES),
        ];
        // RLIMIT_NPROC counts every process of the real user; only as
        // `nobody` is that a count of sandboxed programs.
        if as_root {
            rlimits.push((libc::RLIMIT_NPROC, MAX_PROCESSES, MAX_PROCESSES));
        }
        Ok(ChildPlan {
            isolation,
            as_root,
            work: cstring(work.as_os_str().as_bytes(), "the sandbox directory")?,
            root_dir: cstring(b"/", "/")?,
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            rlimits,
        })
    }

    /// Runs in the child after `fork`: system calls only.
    fn apply(&self) -> io::Result<()> {
        // SAFETY: every call below is a plain system call on memory owned by
        // `self`, which outlives the call; none allocates or takes a lock.
        unsafe {
            // Its own session and process group, so the runner can kill all
            // of it at once.
            check(libc::setsid())?;
            if self.isolation >= Isolation::NetworkOnly {
                let mut flags = libc::CLONE_NEWNET;
                if self.isolation >= Isolation::Namespaces {
                    flags |= libc::CLONE_NEWNS;
                }
                if !self.as_root {
                    flags |= libc::CLONE_NEWUSER;
                }
                check(libc::unshare(flags))?;
                if !self.as_root {
                    write_file(c"/proc/self/setgroups", b"deny")?;
                    write_file(c"/proc/self/uid_map", &self.uid_map)?;
                    write_file(c"/proc/self/gid_map", &self.gid_map)?;
                }
            }
            if self.isolation >= Isolation::Namespaces {
                // Nothing done here propagates back to the host's mounts.
                check(libc::mount(
                    std::ptr::null(),
                    self.root_dir.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                // work/ becomes a mount of its own, so that it can stay
                // writable when everything else turns read-only.
                check(libc::mount(
                    self.work.as_ptr(),
                    self.work.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                let read_only = MountAttr {
                    attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                    attr_clr: 0,
                    propagation: 0,
                    userns_fd: 0,
                };
                mount_setattr(&self.root_dir, &read_only)?;
                let writable = MountAttr {
                    attr_set: 0,
                    attr_clr: MOUNT_ATTR_RDONLY,
                    propagation: 0,
                    userns_fd: 0,
                };
                mount_setattr(&self.work, &writable)?;
                // The working directory was entered before the bind mount,
                // so it still points at the read-only mount below it.
                check(libc::chdir(self.work.as_ptr()))?;
            }
            for &(resource, soft, hard) in &self.rlimits {
                let limit = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                check(libc::setrlimit(resource, &limit))?;
            }
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            if self.as_root {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(NOBODY))?;
                check(libc::setuid(NOBODY))?;
            }
        }
        Ok(())
    }
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `mount_setattr(2)` on `path` and every mount below it.
///
/// # Safety
/// A plain system call; `path` and `attr` are valid for its duration.
unsafe fn mount_setattr(path: &CString, attr: &MountAttr) -> io::Result<()> {
    let ret = libc::syscall(
        libc::SYS_mount_setattr,
        libc::AT_FDCWD,
        path.as_ptr(),
        libc::AT_RECURSIVE as libc::c_uint,
        attr as *const MountAttr,
        std::mem::size_of::<MountAttr>(),
    );
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Write `bytes` to an existing file with open/write/close only.
///
/// # Safety
/// Plain system calls on valid memory.
unsafe fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> io::Result<()> {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    let err = io::Error::last_os_error();
    libc::close(fd);
    if n != bytes.len() as isize {
        return Err(err);
    }
    Ok(())
}

/// Files a code item may write: HumanEval's tests write none.
const FILE_SIZE_LIMIT: u64 = 16 << 20;

/// The sandbox as the runner's [`CodeExecutor`]: the item's timeout is both
/// the CPU and the wall-clock limit.
impl CodeExecutor for Sandbox {
    fn run(&self, program: &str, limits: &Limits) -> Outcome {
        let limits = SandboxLimits {
            cpu: limits.timeout,
            wall: limits.timeout,
            memory_bytes: limits.memory_bytes,
            file_size_bytes: FILE_SIZE_LIMIT,
        };
        match self.execute(program, &limits) {
            Ok(RunOutcome::Passed) => Outcome::Passed,
            Ok(RunOutcome::Failed { stderr_tail }) => Outcome::Failed {
                detail: stderr_tail,
            },
            Ok(RunOutcome::TimedOut) => Outcome::Timeout,
            Ok(RunOutcome::OutOfMemory) => Outcome::Memory,
            Err(e) => Outcome::Error {
                detail: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn sandbox() -> Sandbox {
        Sandbox::new().expect("python3 is needed for the sandbox tests")
    }

    fn quick() -> SandboxLimits {
        SandboxLimits {
            cpu: Duration::from_secs(5),
            wall: Duration::from_secs(10),
            ..Default::default()
        }
    }

    /// A fresh directory for one test's runs, so a test can see what a run
    /// leaves behind.
    fn scratch(name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/sandbox-tests")
            .join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn failed_with(outcome: &RunOutcome, needle: &str) -> bool {
        matches!(outcome, RunOutcome::Failed { stderr_tail } if stderr_tail.contains(needle))
    }

    #[test]
    fn a_passing_program_passes_and_its_directory_is_removed() {
        let root = scratch("pass");
        let sb = sandbox().temp_root(&root);
        let program = "def add(a, b):\n    return a + b\n\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n\n\ncheck(add)\n";
        assert_eq!(sb.execute(program, &quick()).unwrap(), RunOutcome::Passed);
        assert_eq!(
            fs::read_dir(&root).unwrap().count(),
            0,
            "the run's directory was not removed"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failing_assertion_fails_with_the_tail_of_stderr() {
        let program = "def check(candidate):\n    assert candidate(2) == 5, 'wrong answer'\n\ncheck(lambda x: x)\n";
        let outcome = sandbox().execute(program, &quick()).unwrap();
        assert!(
            failed_with(&outcome, "AssertionError: wrong answer"),
            "{outcome:?}"
        );
        // The same failure reads the same in every run (no temporary paths).
        assert_eq!(sandbox().execute(program, &quick()).unwrap(), outcome);
        assert!(
            failed_with(&outcome, "File \"program.py\", line 2, in check"),
            "{outcome:?}"
        );
        let outcome = sandbox()
            .execute("import sys\nsys.exit(3)\n", &quick())
            .unwrap();
        assert!(failed_with(&outcome, "exited with status 3"), "{outcome:?}");
        let outcome = sandbox().execute("def broken(:\n", &quick()).unwrap();
        assert!(failed_with(&outcome, "SyntaxError"), "{outcome:?}");
    }

    #[test]
    fn an_infinite_loop_is_killed_at_the_cpu_limit() {
        let limits = SandboxLimits {
            cpu: Duration::from_secs(1),
            wall: Duration::from_secs(30),
            ..Default::default()
        };
        let started = Instant::now();
        let outcome = sandbox()
            .execute("while True:\n    pass\n", &limits)
            .unwrap();
        assert_eq!(outcome, RunOutcome::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(!outcome.passed(), "a timeout is scored as a failure");
    }

    #[test]
    fn a_sleeping_program_and_its_children_are_killed_at_the_wall_limit() {
        let limits = SandboxLimits {
            cpu: Duration::from_secs(5),
            wall: Duration::from_millis(1500),
            ..Default::default()
        };
        let program = "import os, time\nif os.fork() == 0:\n    time.sleep(600)\nelse:\n    time.sleep(600)\n";
        let started = Instant::now();
        assert_eq!(
            sandbox().execute(program, &limits).unwrap(),
            RunOutcome::TimedOut
        );
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn children_left_behind_do_not_outlive_the_run() {
        let root = scratch("orphans");
        let sb = sandbox().temp_root(&root);
        // The child keeps running after the program exits; the run must not
        // wait for it, and its group is killed.
        let program = "import os, time\nif os.fork() == 0:\n    time.sleep(600)\n";
        let started = Instant::now();
        assert_eq!(sb.execute(program, &quick()).unwrap(), RunOutcome::Passed);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_memory_hog_is_stopped_at_the_memory_limit() {
        let limits = SandboxLimits {
            memory_bytes: 256 << 20,
            ..quick()
        };
        let program = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n";
        assert_eq!(
            sandbox().execute(program, &limits).unwrap(),
            RunOutcome::OutOfMemory
        );
        let program = "x = 'a' * (1 << 30)\n";
        assert_eq!(
            sandbox().execute(program, &limits).unwrap(),
            RunOutcome::OutOfMemory
        );
    }

    #[test]
    fn large_files_are_stopped_at_the_file_size_limit() {
        let limits = SandboxLimits {
            file_size_bytes: 1 << 20,
            ..quick()
        };
        // Python ignores SIGXFSZ, so the write fails with EFBIG.
        let program = "with open('big', 'wb') as f:\n    f.write(b'x' * (4 << 20))\n";
        let outcome = sandbox().execute(program, &limits).unwrap();
        assert!(failed_with(&outcome, "File too large"), "{outcome:?}");
    }

    /// Connects to a listener of the test's own on 127.0.0.1: without a
    /// network namespace this would succeed.
    fn socket_program(port: u16) -> String {
        format!(
            "import socket\ntry:\n    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nexcept OSError as e:\n    print('blocked:', e)\nelse:\n    raise SystemExit('connected to the host')\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=2)\nexcept OSError as e:\n    print('blocked:', e)\nelse:\n    raise SystemExit('connected outside')\n"
        )
    }

    #[test]
    fn a_program_cannot_open_a_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sb = sandbox();
        let outcome = sb.execute(&socket_program(port), &quick()).unwrap();
        assert_eq!(
            outcome,
            RunOutcome::Passed,
            "at isolation {}",
            sb.isolation().as_str()
        );
        assert!(
            listener.accept().is_err(),
            "the sandboxed program reached the host's listener"
        );
    }

    #[test]
    fn process_only_isolation_still_blocks_the_socket_api() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sb = Sandbox::with(sandbox().python().to_path_buf(), Isolation::ProcessOnly);
        assert_eq!(
            sb.execute(&socket_program(port), &quick()).unwrap(),
            RunOutcome::Passed
        );
        assert!(
            listener.accept().is_err(),
            "the sandboxed program reached the host's listener"
        );
        let outcome = sb.execute("import _socket\n", &quick()).unwrap();
        assert!(
            failed_with(&outcome, "import of _socket halted"),
            "{outcome:?}"
        );
        assert_eq!(
            sb.execute("assert __name__ == '__main__'\n", &quick())
                .unwrap(),
            RunOutcome::Passed
        );
    }

    #[test]
    fn writes_outside_its_directory_do_not_reach_the_repository() {
        let sb = sandbox();
        if sb.isolation() < Isolation::Namespaces && !is_root() {
            eprintln!("skipped: no mount namespace and not root, so the program runs as this user");
            return;
        }
        let outside = scratch("outside");
        let canary = outside.join("canary.txt");
        fs::write(&canary, "original").unwrap();
        let repo_file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("sandbox-escape-{}.txt", std::process::id()));
        let program = format!(
            "import os\nblocked = 0\nfor action in (\n    lambda: open({canary:?}, 'w').write('changed'),\n    lambda: open({new:?}, 'w').write('new'),\n    lambda: os.remove({canary:?}),\n    lambda: open({repo:?}, 'w').write('escaped'),\n):\n    try:\n        action()\n    except OSError as e:\n        blocked += 1\nopen('inside.txt', 'w').write('fine')\nassert blocked == 4, blocked\n",
            canary = canary.display().to_string(),
            new = outside.join("new.txt").display().to_string(),
            repo = repo_file.display().to_string(),
        );
        let outcome = sb.execute(&program, &quick()).unwrap();
        let escaped = repo_file.exists();
        let _ = fs::remove_file(&repo_file);
        assert_eq!(outcome, RunOutcome::Passed);
        assert!(!escaped, "the program wrote into the repository");
        assert_eq!(fs::read_to_string(&canary).unwrap(), "original");
        assert!(!outside.join("new.txt").exists());
        fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn the_environment_is_not_inherited() {
        // Whatever the test process has (CARGO_*, tokens in CI), the program
        // sees only the sandbox's own variables.
        let program = "import os\nextra = sorted(set(os.environ) - {'PATH', 'HOME', 'TMPDIR', 'LANG', 'PYTHONHASHSEED', 'PYTHONDONTWRITEBYTECODE', 'LC_CTYPE'})\nassert not extra, extra\nassert os.environ['HOME'] == os.getcwd()\n";
        assert_eq!(
            sandbox().execute(program, &quick()).unwrap(),
            RunOutcome::Passed
        );
    }

    #[test]
    fn this_machine_gets_namespaces_when_run_as_root() {
        let sb = sandbox();
        eprintln!("sandbox isolation here: {}", sb.isolation().as_str());
        if is_root() {
            // Root can always create namespaces unless a seccomp policy
            // forbids it; CI runs as root on a plain Debian machine.
            assert!(
                sb.isolation() >= Isolation::NetworkOnly,
                "{:?}",
                sb.isolation()
            );
            let program = "import os\nassert os.getuid() == 65534, os.getuid()\n";
            assert_eq!(sb.execute(program, &quick()).unwrap(), RunOutcome::Passed);
        }
    }

    #[test]
    fn memory_errors_are_recognised_in_stderr() {
        assert!(out_of_memory(
            "Traceback (most recent call last):\n  File \"program.py\", line 1\nMemoryError\n"
        ));
        assert!(!out_of_memory(
            "Traceback (most recent call last):\nAssertionError: MemoryError expected\n"
        ));
        assert!(!out_of_memory(""));
    }

    #[test]
    fn the_sandbox_is_the_runners_code_executor() {
        let sb = sandbox();
        let limits = Limits {
            timeout: Duration::from_secs(2),
            memory_bytes: 256 << 20,
        };
        let executor: &dyn CodeExecutor = &sb;
        let program = crate::code::program(
            "def add(a, b):\n",
            "    return a + b\n",
            "def check(candidate):\n    assert candidate(1, 2) == 3",
            "add",
        );
        assert_eq!(executor.run(&program, &limits), Outcome::Passed);
        let wrong = crate::code::program(
            "def add(a, b):\n",
            "    return a - b\n",
            "def check(c):\n    assert c(1, 2) == 3",
            "add",
        );
        assert_eq!(executor.run(&wrong, &limits).label(), "failed");
        assert_eq!(
            executor.run("while True:\n    pass\n", &limits),
            Outcome::Timeout
        );
        assert_eq!(
            executor.run("x = bytearray(1 << 30)\n", &limits),
            Outcome::Memory
        );
        let broken = Sandbox::with(
            PathBuf::from("/nonexistent/python3"),
            Isolation::ProcessOnly,
        );
        assert_eq!(broken.run("pass\n", &limits).label(), "error");
    }

    /// Every HumanEval problem shipped in suites/humaneval passes with its
    /// reference solution and fails without one: the tests are sound and
    /// nothing in the sandbox breaks them.
    #[test]
    fn humaneval_reference_solutions_pass_and_stubs_fail() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/humaneval/items.jsonl");
        let text = fs::read_to_string(&path)
            .expect("suites/humaneval/items.jsonl (scripts/fetch-suites --write makes it)");
        let items: Vec<serde_json::Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(items.len(), 164);
        let sb = sandbox();
        let limits = Limits {
            timeout: Duration::from_secs(20),
            memory_bytes: 512 << 20,
        };
        let field = |item: &serde_json::Value, key: &str| item[key].as_str().unwrap().to_string();
        let failures = std::sync::Mutex::new(Vec::new());
        let next = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(item) = items.get(i) else { break };
                    let id = field(item, "id");
                    let (prompt, tests, entry) = (
                        field(item, "prompt"),
                        field(item, "tests"),
                        field(item, "entry_point"),
                    );
                    let solution = item["metadata"]["canonical_solution"].as_str().unwrap();
                    let outcome = CodeExecutor::run(
                        &sb,
                        &crate::code::program(&prompt, solution, &tests, &entry),
                        &limits,
                    );
                    if outcome != Outcome::Passed {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{id} with its reference solution: {outcome:?}"));
                    }
                    // A stub that returns None must fail every problem's tests
                    // (one in eight, to keep the test quick).
                    let eighth = i % 8;
                    if eighth == 0 {
                        let outcome = CodeExecutor::run(
                            &sb,
                            &crate::code::program(&prompt, "    return None\n", &tests, &entry),
                            &limits,
                        );
                        if outcome.passed() {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{id} passed with a stub"));
                        }
                    }
                });
            }
        });
        let failures = failures.into_inner().unwrap();
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
