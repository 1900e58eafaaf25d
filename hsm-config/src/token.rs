//! Sessions on one token, shared by many threads, with automatic recovery.
//!
//! A [`Module`] is one loaded PKCS#11 library (one per path and process: a
//! library may be initialised only once). A [`Token`] is one logged-in token
//! of that module with a bounded pool of sessions and a cache of key handles.
//!
//! Recovery: when an operation fails because the token went away (device
//! error, token not present, module finalised behind our back, stale session
//! or object handles), the token is re-found, sessions re-opened and keys
//! looked up again. Re-initialising the module takes its write lock, so no
//! session is in use meanwhile and every session is closed before
//! `C_Finalize`. While the token stays unreachable, callers get
//! [`Error::Unavailable`] at once (attempts are rate-limited), never a hang.
//!
//! Lock order: module context (read or write), then a token's pool mutex.
//! Operations must not nest another HSM operation inside their closure.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::config::{read_pin_file, HsmConfig, ModuleLocation};
use crate::error::{Error, Result};

/// One loaded PKCS#11 library, shared by every token of this process.
#[derive(Debug)]
pub struct Module {
    path: PathBuf,
    /// The module's own initialisation string, passed in `pReserved` at every
    /// `C_Initialize` (NSS softoken needs its database there).
    init_string: Option<CString>,
    lib: Pkcs11,
    /// The same library's raw entry points, for the one call cryptoki cannot make: a
    /// single-part `C_Encrypt` into a buffer the caller sizes (see [`Module::encrypt_into`]).
    raw: RawModule,
    ctx: RwLock<Ctx>,
    tokens: Mutex<Vec<Weak<TokenInner>>>,
    /// Serialises token initialisation: two at once would pick the same slot.
    admin: Mutex<()>,
}

#[derive(Debug)]
struct Ctx {
    initialized: bool,
    generation: u64,
    last_attempt: Option<Instant>,
    last_error: String,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Module>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Weak<Module>>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while holding it; the data it
    // guards (pools of sessions) stays structurally valid, so keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The library loaded a second time through cryptoki-sys (the loader returns the same
/// instance, kept loaded here) and its `C_Encrypt` from `C_GetFunctionList` (NSS softoken
/// exports no `C_*` symbol but that one).
struct RawModule {
    _lib: cryptoki_sys::Pkcs11,
    encrypt: unsafe extern "C" fn(
        cryptoki_sys::CK_SESSION_HANDLE,
        *mut cryptoki_sys::CK_BYTE,
        cryptoki_sys::CK_ULONG,
        *mut cryptoki_sys::CK_BYTE,
        *mut cryptoki_sys::CK_ULONG,
    ) -> cryptoki_sys::CK_RV,
}

impl RawModule {
    #[allow(unsafe_code)]
    fn load(path: &Path) -> std::result::Result<RawModule, String> {
        // SAFETY: the same library `Pkcs11::new` loaded from this path; loading it again runs
        // no constructor twice (the loader reference-counts it). C_GetFunctionList fills a
        // pointer to a table the module owns for as long as it stays loaded, which `_lib`
        // ensures; C_Encrypt is only called on sessions that `Module::lib` opened.
        unsafe {
            let lib = cryptoki_sys::Pkcs11::new(path).map_err(|e| e.to_string())?;
            let mut list: *mut cryptoki_sys::CK_FUNCTION_LIST = std::ptr::null_mut();
            let rv = lib.C_GetFunctionList(&mut list);
            if rv != cryptoki_sys::CKR_OK || list.is_null() {
                return Err(format!("C_GetFunctionList returned {rv:#x}"));
            }
            let encrypt = (*list).C_Encrypt.ok_or("the module has no C_Encrypt")?;
            Ok(RawModule { _lib: lib, encrypt })
        }
    }
}

impl std::fmt::Debug for RawModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawModule")
    }
}

/// `C_Initialize` with OS locking, and the module's initialisation string in `pReserved`
/// when there is one.
fn initialize(lib: &Pkcs11, init_string: Option<&CString>) -> std::result::Result<(), CkError> {
    let flags = CInitializeFlags::OS_LOCKING_OK;
    let Some(init_string) = init_string else {
        return lib.initialize(CInitializeArgs::new(flags));
    };
    let reserved =
        std::ptr::NonNull::from(init_string.as_bytes_with_nul()).cast::<std::ffi::c_void>();
    #[allow(unsafe_code)]
    // SAFETY: `reserved` points to a NUL-terminated string that `init_string` keeps alive
    // for the whole call; PKCS#11 modules that read pReserved (NSS softoken, kryoptic) read
    // it during C_Initialize only and never write through it.
    let args = unsafe { CInitializeArgs::new_with_reserved(flags, reserved) };
    lib.initialize(args)
}

impl Module {
    /// Loads (or reuses) the library at `path` and initialises it.
    pub fn load(path: &Path) -> Result<Arc<Module>> {
        Module::load_with(path, None)
    }

    /// Loads (or reuses) the module `location` names, initialised with its string.
    pub fn load_location(location: &ModuleLocation) -> Result<Arc<Module>> {
        Module::load_with(&location.path, location.init_args.as_deref())
    }

    /// Loads (or reuses) the library at `path` and initialises it with the module-specific
    /// string `init_string` in `C_Initialize`'s `pReserved` (when given). A library already
    /// loaded by this process is reused only with the same string.
    pub fn load_with(path: &Path, init_string: Option<&str>) -> Result<Arc<Module>> {
        let module_err = |reason: String| Error::Module {
            path: path.to_owned(),
            reason,
        };
        let init_string = init_string
            .map(|s| {
                CString::new(s).map_err(|_| module_err("init_args contains a NUL byte".into()))
            })
            .transpose()?;
        let mut reg = lock(registry());
        if let Some(m) = reg.get(path).and_then(Weak::upgrade) {
            if m.init_string != init_string {
                return Err(module_err(
                    "already loaded by this process with other initialisation arguments".into(),
                ));
            }
            return Ok(m);
        }
        let lib = Pkcs11::new(path).map_err(|e| module_err(e.to_string()))?;
        let raw = RawModule::load(path).map_err(module_err)?;
        match initialize(&lib, init_string.as_ref()) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(module_err(e.to_string())),
        }
        let m = Arc::new(Module {
            path: path.to_owned(),
            init_string,
            lib,
            raw,
            ctx: RwLock::new(Ctx {
                initialized: true,
                generation: 1,
                last_attempt: None,
                last_error: String::new(),
            }),
            tokens: Mutex::new(Vec::new()),
            admin: Mutex::new(()),
        });
        reg.insert(path.to_owned(), Arc::downgrade(&m));
        match m.description() {
            Ok(d) => {
                tracing::info!(module = %path.display(), library = %d, "PKCS#11 module loaded")
            }
            Err(e) => {
                tracing::warn!(module = %path.display(), error = %e, "PKCS#11 module loaded; C_GetInfo failed")
            }
        }
        Ok(m)
    }

    /// Who made the library and what it calls itself (`C_GetInfo`), e.g. for the log line
    /// that tells which module a service runs on.
    pub fn description(&self) -> Result<String> {
        let info = self.lib.get_library_info().map_err(classify_fatal)?;
        Ok(format!(
            "{} {} {}",
            info.manufacturer_id().trim_end(),
            info.library_description().trim_end(),
            info.library_version()
        ))
    }

    /// Path of the library.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw context, for ceremony steps that need slot-level calls
    /// (`C_InitToken`). Callers must not finalise it.
    pub(crate) fn pkcs11(&self) -> &Pkcs11 {
        &self.lib
    }

    /// Finishes the single-part encryption that `session.encrypt_init` started, into a buffer
    /// of `capacity` bytes, and returns what the module wrote. Some modules (NSS softoken with
    /// AES-GCM) answer cryptoki's length query without the tag and then refuse the buffer of
    /// that size: the caller knows the real size, so no length query is made. A module that
    /// still asks for more gets one more call with the size it named.
    pub(crate) fn encrypt_into(
        &self,
        session: &Session,
        data: &[u8],
        capacity: usize,
    ) -> std::result::Result<Vec<u8>, CkError> {
        use cryptoki::context::Function;
        use cryptoki::error::Rv;
        let data_len = cryptoki_sys::CK_ULONG::try_from(data.len())?;
        let mut out = vec![0u8; capacity];
        for _ in 0..2 {
            let mut out_len = cryptoki_sys::CK_ULONG::try_from(out.len())?;
            #[allow(unsafe_code)]
            // SAFETY: `data` and `out` are valid for the lengths passed, and `out_len` holds
            // `out`'s length: the module writes at most that many bytes (PKCS#11 §5.2).
            let rv = unsafe {
                (self.raw.encrypt)(
                    session.handle(),
                    data.as_ptr().cast_mut(),
                    data_len,
                    out.as_mut_ptr(),
                    &mut out_len,
                )
            };
            let needed = usize::try_from(out_len)?;
            match Rv::from(rv).into_result(Function::Encrypt) {
                Ok(()) => {
                    out.truncate(needed.min(out.len()));
                    return Ok(out);
                }
                // The operation stays active after CKR_BUFFER_TOO_SMALL (PKCS#11 §5.2).
                Err(CkError::Pkcs11(RvError::BufferTooSmall, _)) if needed > out.len() => {
                    out.resize(needed, 0);
                }
                Err(e) => return Err(e),
            }
        }
        Err(CkError::Pkcs11(RvError::BufferTooSmall, Function::Encrypt))
    }

    /// Finds the slot holding an initialised token with this label.
    pub fn find_slot(&self, label: &str) -> Result<Slot> {
        let ctx = self.ctx.read().unwrap_or_else(|p| p.into_inner());
        if !ctx.initialized {
            return Err(Error::Unavailable(ctx.last_error.clone()));
        }
        find_slot(&self.lib, label)
    }

    /// Initialises a fresh token in a free slot with `label`, sets its SO
    /// and user PINs. Refuses if a token with that label exists already.
    pub fn init_token(&self, label: &str, so_pin: &AuthPin, user_pin: &AuthPin) -> Result<()> {
        let _admin = lock(&self.admin);
        let ctx = self.ctx.read().unwrap_or_else(|p| p.into_inner());
        if !ctx.initialized {
            return Err(Error::Unavailable(ctx.last_error.clone()));
        }
        match find_slot(&self.lib, label) {
            Ok(_) => return Err(Error::TokenExists(label.to_owned())),
            Err(Error::TokenNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let mut free = None;
        for slot in self.lib.get_slots_with_token().map_err(classify_fatal)? {
            let info = self.lib.get_token_info(slot).map_err(classify_fatal)?;
            if !info.token_initialized() {
                free = Some(slot);
                break;
            }
        }
        let slot = free.ok_or_else(|| {
            Error::Config("the PKCS#11 module has no free slot for a new token".into())
        })?;
        self.lib.init_token(slot, so_pin, label)?;
        // SoftHSM moves the new token to another slot number: find it again.
        let slot = find_slot(&self.lib, label)?;
        let session = self.lib.open_rw_session(slot)?;
        session.login(UserType::So, Some(so_pin))?;
        session.init_pin(user_pin)?;
        session.logout()?;
        Ok(())
    }

    /// Takes over a token initialised by the HSM's own tool (a partition, an NSS database):
    /// logs in with the PIN it was given there and replaces it by `user_pin`. The token must
    /// exist, be initialised and have a user PIN; its objects and SO PIN are left as they are.
    pub fn take_over_token(
        &self,
        label: &str,
        initial_pin: &AuthPin,
        user_pin: &AuthPin,
    ) -> Result<()> {
        let _admin = lock(&self.admin);
        let ctx = self.ctx.read().unwrap_or_else(|p| p.into_inner());
        if !ctx.initialized {
            return Err(Error::Unavailable(ctx.last_error.clone()));
        }
        let slot = find_slot(&self.lib, label)?;
        let info = self.lib.get_token_info(slot).map_err(classify_fatal)?;
        if !info.token_initialized() || !info.user_pin_initialized() {
            return Err(Error::Config(format!(
                "token {label:?} exists but is not initialised with a user PIN: initialise it \
                 with the HSM's tool first, or let the ceremony initialise a free slot \
                 (no existing_token)"
            )));
        }
        let session = self.lib.open_rw_session(slot)?;
        session
            .login(UserType::User, Some(initial_pin))
            .map_err(|e| match e {
                CkError::Pkcs11(
                    rv @ (RvError::PinIncorrect
                    | RvError::PinLocked
                    | RvError::PinExpired
                    | RvError::PinInvalid
                    | RvError::PinLenRange),
                    _,
                ) => Error::PinRejected {
                    token: label.to_owned(),
                    detail: format!("initial PIN: {rv}"),
                },
                e => Error::from(e),
            })?;
        session.set_pin(initial_pin, user_pin)?;
        session.logout()?;
        Ok(())
    }

    /// Tears the library down and initialises it again, unless another
    /// caller did so since `seen_generation`. Rate-limited by `retry`.
    fn reinitialize(&self, seen_generation: u64, retry: Duration, cause: &str) -> Result<()> {
        let mut ctx = self.ctx.write().unwrap_or_else(|p| p.into_inner());
        if ctx.generation != seen_generation && ctx.initialized {
            return Ok(());
        }
        if let Some(t) = ctx.last_attempt {
            if t.elapsed() < retry {
                let why = if ctx.last_error.is_empty() {
                    cause.to_owned()
                } else {
                    ctx.last_error.clone()
                };
                return Err(Error::Unavailable(why));
            }
        }
        ctx.last_attempt = Some(Instant::now());
        tracing::warn!(module = %self.path.display(), cause, "re-initialising PKCS#11 module");
        // No session is leased while we hold the write lock: close them all
        // before C_Finalize so that no stale handle survives into the next
        // generation.
        let tokens: Vec<Arc<TokenInner>> = lock(&self.tokens)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for t in &tokens {
            lock(&t.pool).reset();
        }
        // Finalize may fail when the module was finalised behind our back.
        let _ = self.lib.clone().finalize();
        ctx.initialized = false;
        ctx.generation += 1;
        match initialize(&self.lib, self.init_string.as_ref()) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
                ctx.initialized = true;
                ctx.last_error.clear();
                Ok(())
            }
            Err(e) => {
                ctx.last_error = format!("{cause}; re-initialisation failed: {e}");
                Err(Error::Unavailable(ctx.last_error.clone()))
            }
        }
    }
}

/// How long [`Token::open`] keeps retrying a token that is momentarily unavailable.
const OPEN_PATIENCE: Duration = Duration::from_secs(3);
/// Pause between those attempts.
const OPEN_RETRY_PAUSE: Duration = Duration::from_millis(50);

fn find_slot(lib: &Pkcs11, label: &str) -> Result<Slot> {
    let slots = lib
        .get_slots_with_initialized_token()
        .map_err(classify_fatal)?;
    for slot in slots {
        let info = lib.get_token_info(slot).map_err(classify_fatal)?;
        if info.label().trim_end() == label {
            return Ok(slot);
        }
    }
    Err(Error::TokenNotFound(label.to_owned()))
}

/// Prefix of a key reference that names the key by `CKA_ID` (in hex) instead of its label.
pub const KEY_ID_PREFIX: &str = "id:";

/// The search template of the object of class `class` that `reference` names: its
/// `CKA_LABEL`, or with [`KEY_ID_PREFIX`] its `CKA_ID` (for keys another tool made, whose
/// labels may be absent or shared). Keys without a `CKA_ID` are found by label.
pub(crate) fn object_template(class: ObjectClass, reference: &str) -> Result<Vec<Attribute>> {
    let by = match reference.strip_prefix(KEY_ID_PREFIX) {
        Some(id) => Attribute::Id(hex::decode(id).map_err(|e| {
            Error::Config(format!(
                "key reference {reference:?}: CKA_ID is not hex: {e}"
            ))
        })?),
        None => Attribute::Label(reference.as_bytes().to_vec()),
    };
    Ok(vec![Attribute::Class(class), by])
}

/// Errors that mean "the token or module is gone" become `Unavailable`.
fn classify_fatal(e: CkError) -> Error {
    match failure_kind(&e) {
        Failure::Device | Failure::Session => Error::Unavailable(e.to_string()),
        _ => Error::Pkcs11(e),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The key handle is no longer valid: look the key up again.
    StaleObject,
    /// The session is gone or logged out: open a new one.
    Session,
    /// The token or module is gone: re-initialise.
    Device,
    /// Anything else is the caller's business.
    Other,
}

fn failure_kind(e: &CkError) -> Failure {
    let CkError::Pkcs11(rv, _) = e else {
        return Failure::Other;
    };
    match rv {
        RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => Failure::StaleObject,
        RvError::SessionHandleInvalid
        | RvError::SessionClosed
        | RvError::UserNotLoggedIn
        | RvError::OperationActive => Failure::Session,
        RvError::DeviceError
        | RvError::DeviceRemoved
        | RvError::DeviceMemory
        | RvError::TokenNotPresent
        | RvError::TokenNotRecognized
        | RvError::CryptokiNotInitialized
        | RvError::SlotIdInvalid
        | RvError::GeneralError => Failure::Device,
        _ => Failure::Other,
    }
}

/// A logged-in token with a bounded pool of sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Token {
    inner: Arc<TokenInner>,
}

#[derive(Debug)]
struct TokenInner {
    module: Arc<Module>,
    label: String,
    pin: AuthPin,
    pool: Mutex<Pool>,
    /// Objects found at least once: if one disappears, the token went away
    /// (CA keys are never deleted while in service).
    seen: Mutex<std::collections::HashSet<(String, String)>>,
    freed: Condvar,
    max_sessions: usize,
    session_wait: Duration,
    retry: Duration,
}

#[derive(Debug, Default)]
struct Pool {
    generation: u64,
    slot: Option<Slot>,
    idle: Vec<Session>,
    open: usize,
    /// Handles by object class and label; looked up by `&str` on the hot
    /// path, so a signature allocates nothing here.
    keys: HashMap<u64, HashMap<String, ObjectHandle>>,
    pin_rejected: Option<String>,
    /// Callers blocked in checkout: wake only when someone waits (a
    /// condvar notify costs a system call on every signature otherwise).
    waiters: usize,
}

impl Pool {
    fn reset(&mut self) {
        self.idle.clear(); // drops: C_CloseSession
        self.open = 0;
        self.slot = None;
        self.keys.clear();
    }
}

/// Options for [`Token::open`] beyond module, label and PIN.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Maximum concurrently open sessions.
    pub max_sessions: usize,
    /// How long a caller waits for a session before `Busy`.
    pub session_wait: Duration,
    /// Minimum delay between reconnection attempts.
    pub retry: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_sessions: 8,
            session_wait: Duration::from_secs(5),
            retry: Duration::from_millis(250),
        }
    }
}

impl Token {
    /// Opens the token described by the `[hsm]` configuration, reading the
    /// PIN from its file, and logs in once to check the PIN.
    pub fn from_config(cfg: &HsmConfig) -> Result<Token> {
        cfg.validate()?;
        let pin = read_pin_file(&cfg.pin_file)?;
        let module = Module::load_with(&cfg.module, cfg.init_args.as_deref())?;
        Token::open(
            module,
            &cfg.token_label,
            pin,
            PoolOptions {
                max_sessions: cfg.max_sessions,
                session_wait: Duration::from_millis(cfg.session_wait_ms),
                retry: Duration::from_millis(cfg.retry_interval_ms),
            },
        )
    }

    /// Opens a token of `module` by label and logs in with `pin`.
    pub fn open(
        module: Arc<Module>,
        label: &str,
        pin: AuthPin,
        opts: PoolOptions,
    ) -> Result<Token> {
        let inner = Arc::new(TokenInner {
            module: module.clone(),
            label: label.to_owned(),
            pin,
            pool: Mutex::new(Pool::default()),
            seen: Mutex::new(Default::default()),
            freed: Condvar::new(),
            max_sessions: opts.max_sessions.max(1),
            session_wait: opts.session_wait,
            retry: opts.retry,
        });
        lock(&module.tokens).retain(|w| w.strong_count() > 0);
        lock(&module.tokens).push(Arc::downgrade(&inner));
        let token = Token { inner };
        // Fail early on a wrong label or PIN. SoftHSM2's file backend rewrites token.object
        // in place (truncate, unlock, write) on each process's first login, so a process
        // starting at that moment can briefly see no token or a general error: such
        // outages are retried for a bounded time before being reported.
        let deadline = Instant::now() + OPEN_PATIENCE;
        loop {
            match token.with_session(|_| Ok(())) {
                Ok(()) => break,
                Err(Error::Unavailable(why)) if Instant::now() < deadline => {
                    tracing::debug!(token = label, cause = %why, "token not ready yet, retrying");
                    std::thread::sleep(OPEN_RETRY_PAUSE);
                }
                Err(e) => return Err(e),
            }
        }
        // SoftHSM2 rewrites its token file in place (truncate, then write) on the first
        // login of a process: killing a process before this point can destroy a file-backed
        // SoftHSM token. Logged so tests and operators can tell the phases apart.
        tracing::debug!(token = label, "token opened and logged in");
        Ok(token)
    }

    /// Label of the token.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The module this token belongs to.
    pub fn module(&self) -> &Arc<Module> {
        &self.inner.module
    }

    /// Runs `op` on a pooled, logged-in session.
    pub fn with_session<T>(
        &self,
        mut op: impl FnMut(&Session) -> std::result::Result<T, CkError>,
    ) -> Result<T> {
        self.run(None, |s, _| op(s))
    }

    /// Runs `op` with the handle of the object of class `class` labelled
    /// `label`, looked up once and cached until it goes stale.
    pub fn with_object<T>(
        &self,
        class: ObjectClass,
        label: &str,
        mut op: impl FnMut(&Session, ObjectHandle) -> std::result::Result<T, CkError>,
    ) -> Result<T> {
        self.run(Some((class, label)), |s, h| match h {
            Some(h) => op(s, h),
            // run() always resolves the handle when a key is asked for.
            None => Err(CkError::InvalidValue),
        })
    }

    /// Whether the token offers `mechanism` (`C_GetMechanismInfo` of its slot). Signers ask
    /// this rather than [`mechanisms`](Self::mechanisms): listing makes cryptoki log an error
    /// for every vendor mechanism it has no name for.
    pub fn offers(&self, mechanism: cryptoki::mechanism::MechanismType) -> Result<bool> {
        let lib = self.inner.module.pkcs11();
        self.with_session(|s| {
            match lib.get_mechanism_info(s.get_session_info()?.slot_id(), mechanism) {
                Ok(_) => Ok(true),
                Err(CkError::Pkcs11(RvError::MechanismInvalid, _)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// The mechanisms the token offers (`C_GetMechanismList` of its slot).
    pub fn mechanisms(&self) -> Result<Vec<cryptoki::mechanism::MechanismType>> {
        let lib = self.inner.module.pkcs11();
        self.with_session(|s| lib.get_mechanism_list(s.get_session_info()?.slot_id()))
    }

    /// Drops every cached key handle (after keys were created or deleted).
    pub fn forget_objects(&self) {
        lock(&self.inner.pool).keys.clear();
    }

    fn run<T>(
        &self,
        object: Option<(ObjectClass, &str)>,
        mut op: impl FnMut(&Session, Option<ObjectHandle>) -> std::result::Result<T, CkError>,
    ) -> Result<T> {
        let inner = &*self.inner;
        let mut last = String::from("no attempt");
        for _attempt in 0..4 {
            let ctx = inner.module.ctx.read().unwrap_or_else(|p| p.into_inner());
            let generation = ctx.generation;
            if !ctx.initialized {
                drop(ctx);
                inner.module.reinitialize(generation, inner.retry, &last)?;
                continue;
            }
            let (session, slot) = match self.checkout(generation) {
                Ok(s) => s,
                Err(Error::Unavailable(why)) => {
                    drop(ctx);
                    last = why;
                    inner.module.reinitialize(generation, inner.retry, &last)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let handle = match object {
                None => Ok(None),
                Some((class, label)) => self.find_object(&session, class, label).map(Some),
            };
            let result = handle.and_then(|h| op(&session, h).map_err(Error::Pkcs11));
            match result {
                Ok(v) => {
                    self.checkin(session, generation, slot);
                    return Ok(v);
                }
                Err(Error::Pkcs11(e)) => match failure_kind(&e) {
                    Failure::Other => {
                        self.checkin(session, generation, slot);
                        return Err(Error::Pkcs11(e));
                    }
                    Failure::StaleObject => {
                        last = e.to_string();
                        lock(&inner.pool).keys.clear();
                        self.checkin(session, generation, slot);
                    }
                    Failure::Session => {
                        last = e.to_string();
                        self.discard(session, generation);
                    }
                    Failure::Device => {
                        last = e.to_string();
                        self.discard(session, generation);
                        drop(ctx);
                        inner.module.reinitialize(generation, inner.retry, &last)?;
                    }
                },
                Err(Error::Unavailable(why)) => {
                    // A key we used before has vanished: the token is away.
                    last = why;
                    self.discard(session, generation);
                    drop(ctx);
                    inner.module.reinitialize(generation, inner.retry, &last)?;
                }
                Err(e) => {
                    self.checkin(session, generation, slot);
                    return Err(e);
                }
            }
        }
        Err(Error::Unavailable(format!(
            "token {:?}: {last}",
            inner.label
        )))
    }

    /// Takes an idle session or opens a new one, waiting (bounded) when the
    /// pool is at its limit. Called with the module's read lock held.
    fn checkout(&self, generation: u64) -> Result<(Session, Slot)> {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.session_wait;
        let mut pool = lock(&inner.pool);
        if pool.generation != generation {
            // Sessions of an older generation were closed by reinitialize().
            pool.reset();
            pool.generation = generation;
        }
        if let Some(why) = &pool.pin_rejected {
            return Err(Error::PinRejected {
                token: inner.label.clone(),
                detail: why.clone(),
            });
        }
        loop {
            if let Some(s) = pool.idle.pop() {
                let slot = pool
                    .slot
                    .ok_or_else(|| Error::Unavailable("no slot".into()))?;
                return Ok((s, slot));
            }
            if pool.open < inner.max_sessions {
                let lib = inner.module.pkcs11();
                let slot = match pool.slot {
                    Some(s) => s,
                    None => match find_slot(lib, &inner.label) {
                        Ok(s) => s,
                        // A token that vanished is an outage, not a config error.
                        Err(Error::TokenNotFound(l)) => {
                            return Err(Error::Unavailable(format!("token {l:?} not present")))
                        }
                        Err(e) => return Err(e),
                    },
                };
                let session = lib.open_rw_session(slot).map_err(classify_fatal)?;
                match session.login(UserType::User, Some(&inner.pin)) {
                    Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                    Err(CkError::Pkcs11(
                        rv @ (RvError::PinIncorrect
                        | RvError::PinLocked
                        | RvError::PinExpired
                        | RvError::PinInvalid
                        | RvError::PinLenRange),
                        _,
                    )) => {
                        pool.pin_rejected = Some(rv.to_string());
                        return Err(Error::PinRejected {
                            token: inner.label.clone(),
                            detail: rv.to_string(),
                        });
                    }
                    // SoftHSM2 answers this while another process rewrites its token file
                    // (the flags read back half-written): an outage to retry, not a verdict
                    // on our PIN. A token really left without a user PIN stays unavailable.
                    Err(CkError::Pkcs11(RvError::UserPinNotInitialized, _)) => {
                        let _ = session.close();
                        return Err(Error::Unavailable(format!(
                            "token {:?} reports no user PIN set (not initialised, or being rewritten)",
                            inner.label
                        )));
                    }
                    Err(e) => return Err(classify_fatal(e)),
                }
                pool.slot = Some(slot);
                pool.open += 1;
                return Ok((session, slot));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Busy(inner.max_sessions));
            }
            pool.waiters += 1;
            pool = inner
                .freed
                .wait_timeout(pool, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            pool.waiters -= 1;
        }
    }

    fn checkin(&self, session: Session, generation: u64, slot: Slot) {
        let mut pool = lock(&self.inner.pool);
        if pool.generation == generation && pool.slot == Some(slot) {
            pool.idle.push(session);
        } else {
            drop(session);
        }
        let wake = pool.waiters > 0;
        drop(pool);
        if wake {
            self.inner.freed.notify_one();
        }
    }

    fn discard(&self, session: Session, generation: u64) {
        drop(session);
        let mut pool = lock(&self.inner.pool);
        if pool.generation == generation {
            pool.open = pool.open.saturating_sub(1);
            pool.keys.clear();
            // One broken session often means all are: drop the idle ones too.
            let n = pool.idle.len();
            pool.idle.clear();
            pool.open = pool.open.saturating_sub(n);
        }
        drop(pool);
        self.inner.freed.notify_all();
    }

    fn find_object(
        &self,
        session: &Session,
        class: ObjectClass,
        label: &str,
    ) -> Result<ObjectHandle> {
        // The numeric CK_OBJECT_CLASS: a map key that needs no allocation.
        let class_id = u64::from(class);
        if let Some(h) = lock(&self.inner.pool)
            .keys
            .get(&class_id)
            .and_then(|m| m.get(label))
        {
            return Ok(*h);
        }
        let key = (class.to_string(), label.to_owned());
        let found = session
            .find_objects(&object_template(class, label)?)
            .map_err(Error::Pkcs11)?;
        match found.as_slice() {
            [h] => {
                lock(&self.inner.seen).insert(key);
                lock(&self.inner.pool)
                    .keys
                    .entry(class_id)
                    .or_default()
                    .insert(label.to_owned(), *h);
                Ok(*h)
            }
            [] if lock(&self.inner.seen).contains(&key) => Err(Error::Unavailable(format!(
                "object {label:?} vanished from token {:?}",
                self.inner.label
            ))),
            [] => Err(Error::KeyNotFound(label.to_owned())),
            _ => Err(Error::Config(format!(
                "{} objects labelled {label:?} in token {:?}: labels must be unique",
                found.len(),
                self.inner.label
            ))),
        }
    }
}
