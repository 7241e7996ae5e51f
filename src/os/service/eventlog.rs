//! The Windows Event Log: where the Windows service's warnings, errors and lifecycle lines go,
//! because that is where Windows administrators look (Event Viewer → Windows Logs →
//! Application, source `wakeproxy`).
//!
//! What is decided here is plain Rust, compiled and tested on every platform:
//!
//! - **what goes there**: every warning and error of wakeproxy, and the info lines logged with
//!   the target [`LIFECYCLE`] (started, stopping, role changes, sleep and resume, key reloads);
//!   the rest of the info, debug and trace lines stay in the file log ([`filter`]);
//! - **as what**: [`EventType`] per level, and the event id of the message that shows it;
//! - **in which words**: the event's message and its fields, one `name: value` line each
//!   ([`format_event`]), cut to what `ReportEventW` takes;
//! - **what `service install` registers**: [`registration`], the event source's registry key
//!   and values.
//!
//! On Windows, [`windows`] carries it out: the `eventlog` crate provides the message table
//! (one `%1` message per level, a resource linked into wakeproxy.exe, so the exe is its own
//! `EventMessageFile`) and the `ReportEventW` calls; `windows-registry` writes the key.

use std::fmt::{self, Write as _};
use std::path::Path;

use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;

/// The event source's name, the service's own.
pub const SOURCE: &str = "wakeproxy";
/// The log the source writes to.
pub const LOG: &str = "Application";
/// The event source's key under `HKEY_LOCAL_MACHINE`.
pub const KEY: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application\wakeproxy";
/// The tracing target of info lines that belong in the Event Log: the daemon's lifecycle.
/// Warnings and errors go there whatever their target.
pub use crate::os::host::LIFECYCLE;
/// The longest insertion string `ReportEventW` takes, in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 31_839;
/// What an over-long message ends with.
const CUT: &str = " … (cut; the whole line is in the file log)";

/// An Event Log event type, with the message the `eventlog` crate's table has for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `EVENTLOG_ERROR_TYPE`.
    Error,
    /// `EVENTLOG_WARNING_TYPE`.
    Warning,
    /// `EVENTLOG_INFORMATION_TYPE`.
    Information,
}

impl EventType {
    /// The `wType` of `ReportEventW`.
    pub const fn code(self) -> u16 {
        match self {
            Self::Error => 0x0001,
            Self::Warning => 0x0002,
            Self::Information => 0x0004,
        }
    }

    /// The event id Event Viewer shows: the message of the `eventlog` crate's table that
    /// `ReportEventW` is given for this type (each is `%1`, the line itself).
    pub const fn event_id(self) -> u16 {
        match self {
            Self::Error => 1,
            Self::Warning => 2,
            Self::Information => 3,
        }
    }
}

/// `TypesSupported`: the types this source reports (error, warning, information).
pub const TYPES_SUPPORTED: u32 = EventType::Error.code() as u32
    | EventType::Warning.code() as u32
    | EventType::Information.code() as u32;

/// The event type of a line at `level` from `target`, or `None` if it does not belong in the
/// Event Log. Only wakeproxy's own lines do.
pub fn event_type(level: &Level, target: &str) -> Option<EventType> {
    if !is_ours(target) {
        return None;
    }
    match *level {
        Level::ERROR => Some(EventType::Error),
        Level::WARN => Some(EventType::Warning),
        Level::INFO if target == LIFECYCLE => Some(EventType::Information),
        _ => None,
    }
}

/// Whether `target` is wakeproxy's, by the prefix rule tracing's filters use.
fn is_ours(target: &str) -> bool {
    target.starts_with(SOURCE)
}

/// The same rule as [`event_type`] as a per-layer filter, so tracing never even builds the
/// lines the Event Log does not take.
pub fn filter() -> Targets {
    Targets::new().with_target(SOURCE, Level::WARN).with_target(LIFECYCLE, Level::INFO)
}

/// A registry value of the event source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    /// `REG_EXPAND_SZ`.
    ExpandString(String),
    /// `REG_DWORD`.
    Dword(u32),
}

/// What `service install` writes under [`KEY`]: the message file (wakeproxy.exe itself, which
/// carries the message table) and the types the source reports.
pub fn registration(exe: &Path) -> [(&'static str, RegValue); 2] {
    [
        ("EventMessageFile", RegValue::ExpandString(exe.display().to_string())),
        ("TypesSupported", RegValue::Dword(TYPES_SUPPORTED)),
    ]
}

/// The text of one event: the line's message, then its fields one `name: value` line each,
/// with Windows line ends, cut to [`MAX_MESSAGE_UNITS`].
pub fn format_event(message: &str, fields: &[(&str, String)]) -> String {
    let mut text = message.replace("\r\n", "\n").replace('\n', "\r\n");
    if !fields.is_empty() {
        text.push_str("\r\n");
        for (name, value) in fields {
            let _ = write!(text, "\r\n{name}: {value}");
        }
    }
    cut(text)
}

fn cut(mut text: String) -> String {
    if text.encode_utf16().count() <= MAX_MESSAGE_UNITS {
        return text;
    }
    let room = MAX_MESSAGE_UNITS - CUT.encode_utf16().count();
    let mut units = 0;
    let end = text
        .char_indices()
        .find(|(_, c)| {
            units += c.len_utf16();
            units > room
        })
        .map_or(text.len(), |(i, _)| i);
    text.truncate(end);
    text.push_str(CUT);
    text
}

/// Where a [`EventLogLayer`] reports: the Event Log on Windows, a list in tests.
pub trait Sink: Send + Sync + 'static {
    /// Reports one event. Never fails loudly: there is nowhere left to say so.
    fn report(&self, kind: EventType, text: &str);
}

/// A tracing layer that reports the lines [`event_type`] takes to a [`Sink`]. Give it
/// [`filter`] as its per-layer filter.
#[derive(Debug)]
pub struct EventLogLayer<K> {
    sink: K,
}

impl<K: Sink> EventLogLayer<K> {
    /// Reports to `sink`.
    pub fn new(sink: K) -> Self {
        Self { sink }
    }
}

impl<S: Subscriber, K: Sink> Layer<S> for EventLogLayer<K> {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let Some(kind) = event_type(meta.level(), meta.target()) else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.sink.report(kind, &format_event(&fields.message, &fields.others));
    }
}

/// An event's message and its other fields, in the order given.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.others.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // A message is `format_args!`, whose Debug is its Display; `%x` fields are wrapped the
        // same way.
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.others.push((field.name(), text));
        }
    }
}

/// The Event Log itself, through the `eventlog` crate and `windows-registry`.
#[cfg(windows)]
pub mod windows {
    use std::io;
    use std::path::Path;

    use windows_registry::LOCAL_MACHINE;

    use super::{EventType, KEY, RegValue, SOURCE, Sink, registration};

    /// `ERROR_FILE_NOT_FOUND`: the key is not there.
    const ERROR_FILE_NOT_FOUND: i32 = 2;

    /// A Windows error as the Win32 error it wraps, so it prints the code and the system's
    /// text ("Access is denied. (os error 5)").
    fn win32(e: windows_result::Error) -> io::Error {
        let hr = e.code().0 as u32;
        // HRESULT_FROM_WIN32 puts a Win32 code in the low word under 0x8007.
        if hr & 0xFFFF_0000 == 0x8007_0000 {
            io::Error::from_raw_os_error((hr & 0xFFFF) as i32)
        } else {
            io::Error::other(e)
        }
    }

    /// Registers the event source with `exe` as its message file.
    pub fn register(exe: &Path) -> io::Result<()> {
        let key = LOCAL_MACHINE.create(KEY).map_err(win32)?;
        for (name, value) in registration(exe) {
            match value {
                RegValue::ExpandString(s) => key.set_expand_string(name, s),
                RegValue::Dword(d) => key.set_u32(name, d),
            }
            .map_err(win32)?;
        }
        Ok(())
    }

    /// Removes the event source; one that is not registered is not an error.
    pub fn deregister() -> io::Result<()> {
        match LOCAL_MACHINE.remove_tree(KEY).map_err(win32) {
            Err(e) if e.raw_os_error() == Some(ERROR_FILE_NOT_FOUND) => Ok(()),
            other => other,
        }
    }

    /// The Event Log as a [`Sink`].
    pub struct EventLogSink(eventlog::EventLog);

    impl std::fmt::Debug for EventLogSink {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("EventLogSink")
        }
    }

    impl EventLogSink {
        /// Opens the event source (`RegisterEventSourceW`). This works even where the source is
        /// not registered; Event Viewer then shows the lines with a note that it lacks their
        /// description.
        pub fn open() -> io::Result<Self> {
            eventlog::EventLog::new(SOURCE, log::Level::Info).map(Self).map_err(|e| match e {
                // The crate's `windows` 0.58 error: its HRESULT wraps the Win32 code.
                eventlog::Error::RegisterSourceFailed(w) => {
                    io::Error::from_raw_os_error((w.code().0 as u32 & 0xFFFF) as i32)
                }
                other => io::Error::other(other.to_string()),
            })
        }
    }

    impl Sink for EventLogSink {
        fn report(&self, kind: EventType, text: &str) {
            // The crate picks the event type and the message from the level: error → error,
            // message 1; warn → warning, 2; info → information, 3 (EventType::event_id).
            let level = match kind {
                EventType::Error => log::Level::Error,
                EventType::Warning => log::Level::Warn,
                EventType::Information => log::Level::Info,
            };
            log::Log::log(
                &self.0,
                &log::Record::builder()
                    .level(level)
                    .target(SOURCE)
                    .args(format_args!("{text}"))
                    .build(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::{error, info, warn};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<(EventType, String)>>>);

    impl Sink for Recorded {
        fn report(&self, kind: EventType, text: &str) {
            self.0.lock().unwrap().push((kind, text.to_owned()));
        }
    }

    fn record(f: impl FnOnce()) -> Vec<(EventType, String)> {
        let sink = Recorded::default();
        let subscriber = tracing_subscriber::registry()
            .with(EventLogLayer::new(sink.clone()).with_filter(filter()));
        tracing::subscriber::with_default(subscriber, f);
        sink.0.lock().unwrap().clone()
    }

    #[test]
    fn warnings_errors_and_lifecycle_lines_go_to_the_event_log() {
        let got = record(|| {
            error!("the service failed: it broke");
            warn!(iface = "eth0", "configured interface eth0 is down");
            info!(target: LIFECYCLE, "wakeproxy 0.1.0 running on eth0");
            info!("peer 1 awake -> asleep");
            tracing::debug!("not listening on UDP 9");
            tracing::trace!("a frame");
            warn!(target: "surge_ping", "not ours");
        });
        assert_eq!(
            got,
            [
                (EventType::Error, "the service failed: it broke".to_owned()),
                (
                    EventType::Warning,
                    "configured interface eth0 is down\r\n\r\niface: eth0".to_owned()
                ),
                (EventType::Information, "wakeproxy 0.1.0 running on eth0".to_owned()),
            ]
        );
    }

    #[test]
    fn the_filter_and_the_mapping_agree() {
        let targets = ["wakeproxy", "wakeproxy::daemon", LIFECYCLE, "tokio", "wakeproxyish"];
        for target in targets {
            for level in [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG, Level::TRACE] {
                assert_eq!(
                    filter().would_enable(target, &level),
                    event_type(&level, target).is_some(),
                    "{target} at {level}"
                );
            }
        }
    }

    #[test]
    fn levels_map_to_event_types_and_the_crates_messages() {
        let w = "wakeproxy::daemon";
        assert_eq!(event_type(&Level::ERROR, w), Some(EventType::Error));
        assert_eq!(event_type(&Level::WARN, w), Some(EventType::Warning));
        assert_eq!(event_type(&Level::INFO, w), None);
        assert_eq!(event_type(&Level::INFO, LIFECYCLE), Some(EventType::Information));
        assert_eq!(event_type(&Level::DEBUG, LIFECYCLE), None);
        // winnt.h: EVENTLOG_ERROR_TYPE 1, EVENTLOG_WARNING_TYPE 2, EVENTLOG_INFORMATION_TYPE 4.
        let codes =
            [EventType::Error, EventType::Warning, EventType::Information].map(EventType::code);
        assert_eq!(codes, [1, 2, 4]);
        let ids =
            [EventType::Error, EventType::Warning, EventType::Information].map(EventType::event_id);
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(TYPES_SUPPORTED, 7);
    }

    #[test]
    fn install_registers_the_exe_as_message_file_under_the_application_log() {
        assert_eq!(KEY, format!(r"SYSTEM\CurrentControlSet\Services\EventLog\{LOG}\{SOURCE}"));
        let exe = Path::new(r"C:\Program Files\wakeproxy\wakeproxy.exe");
        assert_eq!(
            registration(exe),
            [
                (
                    "EventMessageFile",
                    RegValue::ExpandString(r"C:\Program Files\wakeproxy\wakeproxy.exe".into())
                ),
                ("TypesSupported", RegValue::Dword(7)),
            ]
        );
    }

    #[test]
    fn messages_keep_their_fields_in_order_with_windows_line_ends() {
        let fields = [("iface", "eth0".to_owned()), ("node", "ab12".to_owned())];
        assert_eq!(
            format_event("two\nlines", &fields),
            "two\r\nlines\r\n\r\niface: eth0\r\nnode: ab12"
        );
        assert_eq!(format_event("alone", &[]), "alone");
    }

    #[test]
    fn over_long_messages_are_cut_to_what_report_event_takes() {
        // 'é' is one UTF-16 unit, '😀' two: the cut counts units, not bytes or chars.
        for filler in ["x", "é", "😀"] {
            let long = filler.repeat(40_000);
            let text = format_event(&long, &[]);
            let units = text.encode_utf16().count();
            assert!(units <= MAX_MESSAGE_UNITS, "{filler}: {units}");
            assert!(units > MAX_MESSAGE_UNITS - 2, "{filler}: cut too much ({units})");
            assert!(text.ends_with(CUT));
        }
        let fits = "x".repeat(MAX_MESSAGE_UNITS);
        assert_eq!(format_event(&fits, &[]), fits);
    }
}
